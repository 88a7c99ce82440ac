// wikismith's pages work without this script; it adds filtering, sorting, in-wiki navigation that keeps the
// conversation, diagrams (Mermaid, loaded only where a page has one), streaming answers and job progress.

import { KEY } from "./common.js";

function keyInputs() {
  for (const input of document.querySelectorAll("[data-api-key]")) {
    input.value = localStorage.getItem(KEY) || "";
    input.addEventListener("change", () => {
      if (input.value.trim()) localStorage.setItem(KEY, input.value.trim());
      else localStorage.removeItem(KEY);
    });
  }
}

function filters() {
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.querySelector(input.dataset.filter);
    if (!table) continue;
    const empty = document.querySelector(`[data-empty-for="${input.dataset.filter}"]`);
    const apply = () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of table.tBodies[0].rows) {
        const hit = words.every((w) => (row.dataset.text || "").includes(w));
        row.hidden = !hit;
        shown += hit ? 1 : 0;
      }
      if (empty) empty.hidden = shown > 0;
    };
    input.addEventListener("input", apply);
    input.form?.addEventListener("submit", (e) => { if (input.form.elements.length <= 2) { e.preventDefault(); apply(); } });
  }
}

function sortable() {
  for (const table of document.querySelectorAll("table.sortable")) {
    table.tHead.addEventListener("click", (event) => {
      const th = event.target.closest("th[data-sort]");
      if (!th) return;
      const index = [...th.parentNode.children].indexOf(th);
      const up = th.getAttribute("aria-sort") !== "ascending";
      for (const other of th.parentNode.children) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      const value = (row) => {
        const cell = row.children[index];
        return th.dataset.sort === "num" ? Number(cell.dataset.value || 0) : cell.textContent.trim().toLowerCase();
      };
      const rows = [...table.tBodies[0].rows].sort((a, b) => (value(a) > value(b) ? 1 : value(a) < value(b) ? -1 : 0) * (up ? 1 : -1));
      table.tBodies[0].append(...rows);
    });
  }
}

async function drawDiagrams(root) {
  const module = document.body.dataset.mermaid;
  if (!module || !root.querySelector("figure.diagram")) return;
  const diagrams = await import(module);
  await diagrams.draw(root);
}

// In-wiki navigation: the page is swapped in place (sidebar, page, table of contents), so the conversation
// beside it stays, and the address changes as a normal link would (a reload shows the same page).
function readerNavigation() {
  const reader = document.querySelector(".reader[data-wiki]");
  if (!reader) return;
  const base = reader.dataset.wiki;
  const inWiki = (url) => url.origin === location.origin && url.pathname.startsWith(base + "/") && !url.pathname.includes("/-/");
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button || event.metaKey || event.ctrlKey || event.shiftKey || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (!inWiki(url) || (url.pathname === location.pathname && url.search === location.search && url.hash)) return;
    event.preventDefault();
    swap(url, true);
  });
  window.addEventListener("popstate", () => swap(new URL(location.href), false));
}

async function swap(url, push) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: "text/html" } });
  } catch {
    location.href = url;
    return;
  }
  if (!response.ok) { location.href = url; return; }
  const next = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const selector of [".wiki-nav", "main#main", ".side .toc"]) {
    const mine = document.querySelector(selector);
    const theirs = next.querySelector(selector);
    if (mine && theirs) mine.replaceWith(theirs);
    else if (mine) mine.remove();
    else if (theirs) document.querySelector(".side")?.prepend(theirs);
  }
  document.title = next.title;
  if (push) history.pushState(null, "", url);
  if (url.hash) document.getElementById(decodeURIComponent(url.hash.slice(1)))?.scrollIntoView();
  else window.scrollTo(0, 0);
  document.querySelector("main#main h1")?.setAttribute("tabindex", "-1");
  document.querySelector("main#main h1")?.focus({ preventScroll: true });
  wire(document.querySelector("main#main"));
}

function navigateSelects(root) {
  for (const select of root.querySelectorAll("select[data-navigate]")) {
    select.addEventListener("change", () => { location.href = select.value; });
  }
}

function wire(root) {
  navigateSelects(root);
  drawDiagrams(root).catch((error) => console.error("diagrams:", error));
}

function narrowNav() {
  const box = document.querySelector(".wiki-nav details");
  if (box && window.matchMedia("(max-width: 720px)").matches) box.open = false;
}

function citedLines() {
  const view = document.querySelector(".code-view[data-first]");
  if (!view) return;
  const line = document.getElementById(`L-${view.dataset.first}`);
  line?.scrollIntoView({ block: "center" });
}

keyInputs();
citedLines();
filters();
sortable();
narrowNav();
readerNavigation();
wire(document);
if (document.querySelector(".ask[data-ask]")) import("./ask.js").then((m) => m.start(document.querySelector(".ask[data-ask]")));
if (document.getElementById("new-wiki")) import("./jobs.js").then((m) => m.form(document.getElementById("new-wiki")));
if (document.querySelector("[data-job]")) import("./jobs.js").then((m) => m.follow(document.querySelector("[data-job]")));
if (document.getElementById("compare")) import("./compare.js").then((m) => m.start(document.getElementById("compare")));
