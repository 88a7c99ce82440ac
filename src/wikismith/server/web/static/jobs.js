// The new-wiki form and a job's live progress. The form posts the job to /api/jobs and opens its page; the page
// follows /api/jobs/<id>/events (Server-Sent Events: replayed, then live) and opens the wiki when it is done.
import { authHeaders, el, problem } from "./common.js";

const LISTS = ["excluded_dirs", "excluded_files", "included_dirs", "included_files"];

function spec(form) {
  const data = new FormData(form);
  const body = { repo: data.get("repo").trim(), comprehensive: data.get("comprehensive") === "true" };
  const custom = (data.get("custom_model") || "").trim();
  body.model = custom || data.get("model");
  for (const name of ["ref", "language", "token"]) {
    const value = (data.get(name) || "").trim();
    if (value) body[name] = value;
  }
  for (const name of LISTS) {
    const entries = (data.get(name) || "").split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    if (entries.length) body[name] = entries;
  }
  return body;
}

function code(node) {
  const value = node.querySelector("[name=authorization_code]")?.value.trim();
  return value ? { "x-deepwiki-auth-code": value } : {};
}

export function form(node) {
  const error = node.querySelector(".form-error");
  const button = node.querySelector("button[type=submit]");
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const response = await fetch(node.dataset.api, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...authHeaders(), ...code(node) },
        body: JSON.stringify(spec(node)),
      });
      if (!response.ok) throw new Error(await problem(response));
      const { job } = await response.json();
      node.querySelector("[name=token]").value = "";
      location.href = `/jobs/${encodeURIComponent(job.id)}`;
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
}

const FINAL = new Set(["finished", "failed", "cancelled", "interrupted"]);

export function follow(box) {
  const id = box.dataset.job;
  const bar = box.querySelector(".progress > span");
  const status = box.querySelector("[data-status]");
  const counters = box.querySelector("[data-counters]");
  const list = box.querySelector(".job-pages");
  const actions = box.querySelector(".job-actions");
  const show = (event) => {
    const pct = event.total ? Math.round((100 * event.done) / event.total) : 0;
    bar.style.width = `${pct}%`;
    bar.parentNode.setAttribute("aria-valuenow", String(pct));
    status.textContent = event.message ? `${event.state}: ${event.message}` : event.state;
    const cost = event.cost == null ? "–" : `$${event.cost.toFixed(4)}`;
    counters.textContent = `${event.done} of ${event.total || "?"} pages · ${event.failed} failed · ${event.tokens} tokens · ${cost} · ${event.wall_time.toFixed(1)} s`;
    if (event.page_id) page(list, event);
    actions.querySelector("[data-cancel]").hidden = !["queued", "running"].includes(event.state);
    actions.querySelector("[data-resume]").hidden = !["failed", "cancelled", "interrupted"].includes(event.state);
  };
  const source = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  const kinds = ["queued", "started", "stage", "structure", "page_started", "page_done", "page_failed", ...FINAL];
  // The stream replays every run's events first: a final event is the end only when nothing follows it.
  let ending = null;
  for (const kind of kinds) {
    source.addEventListener(kind, (message) => {
      const event = JSON.parse(message.data);
      clearTimeout(ending);
      show(event);
      if (!FINAL.has(kind)) return;
      ending = setTimeout(() => {
        source.close();
        if (kind !== "finished") return;
        box.querySelector("[data-open]").hidden = false;
        if (!event.failed) setTimeout(() => { location.href = box.dataset.wikiUrl; }, 600);
      }, 400);
    });
  }
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) status.textContent += " (progress lost: reload)"; };
  for (const [selector, path] of [["[data-cancel]", "cancel"], ["[data-resume]", "resume"]]) {
    actions.querySelector(selector).addEventListener("click", async () => {
      const response = await fetch(`/api/jobs/${encodeURIComponent(id)}/${path}`, { method: "POST", headers: authHeaders() });
      if (!response.ok) { status.textContent = await problem(response); return; }
      if (path === "resume") location.reload();
    });
  }
}

function page(list, event) {
  let item = list.querySelector(`[data-page="${CSS.escape(event.page_id)}"]`);
  if (!item) {
    item = el("li", { "data-page": event.page_id }, el("span", { class: "title" }), el("span", { class: "state" }), el("span", { class: "reason" }));
    list.append(item);
  }
  const state = { page_started: "running", page_done: "done", page_failed: "failed" }[event.kind] || "pending";
  item.className = state;
  item.querySelector(".title").textContent = event.title || event.page_id;
  item.querySelector(".state").textContent = state;
  item.querySelector(".reason").textContent = event.error || "";
}
