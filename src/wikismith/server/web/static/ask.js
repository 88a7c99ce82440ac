// Ask beside a wiki page: the answer streams in (rendered as Markdown by the server as it grows), its sources link
// to the source view, Deep Research shows each iteration, Stop ends the model call. The conversation is kept for
// this wiki in the tab (sessionStorage), so it stays while the reader moves between pages and across a reload.
import { el, events, postJSON, problem } from "./common.js";

function sourceList(sources) {
  const list = el("ul", { class: "sources", "aria-label": "Sources" });
  for (const s of sources || []) {
    const label = `${s.path}:${s.start_line}-${s.end_line}`;
    list.append(el("li", {}, s.url ? el("a", { href: s.url, class: "cite", text: label }) : el("span", { text: label })));
  }
  return el("details", { class: "sources-box" }, el("summary", { text: `Sources (${(sources || []).length})` }), list);
}

function part(turn, step) {
  const box = el("div", { class: "part" });
  if (turn.deep) box.append(el("p", { class: "step", text: `Iteration ${step.iteration}${step.final ? " (final)" : ""}` }));
  const answer = el("div", { class: "answer markdown" });
  if (step.html) answer.innerHTML = step.html; // the server's rendering: sanitised Markdown
  else answer.textContent = step.content || "";
  box.append(answer);
  if (step.sources?.length) box.append(sourceList(step.sources));
  return { box, answer };
}

function render(turn) {
  if (turn.role === "user") return el("div", { class: "turn user" }, el("p", { text: turn.content }));
  const node = el("div", { class: "turn assistant" });
  for (const step of turn.steps) node.append(part(turn, step).box);
  if (turn.error) node.append(el("p", { class: "error-text", role: "alert", text: turn.error }));
  if (turn.status) node.append(el("p", { class: "status", text: turn.status }));
  return node;
}

export function start(box) {
  const storeKey = `ask:${box.dataset.wiki}`;
  const conversation = box.querySelector(".conversation");
  const form = box.querySelector(".ask-form");
  const [submit, stop, clear] = ["button[type=submit]", ".stop", ".clear"].map((s) => form.querySelector(s));
  let turns = [];
  try { turns = JSON.parse(sessionStorage.getItem(storeKey) || "[]"); } catch { turns = []; }
  let controller = null;
  const save = () => sessionStorage.setItem(storeKey, JSON.stringify(turns));
  const redraw = () => { conversation.replaceChildren(...turns.map(render)); clear.hidden = !turns.length || !!controller; };
  redraw();

  clear.addEventListener("click", () => { turns = []; save(); redraw(); });
  stop.addEventListener("click", () => controller?.abort());
  form.q.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = form.q.value.trim();
    if (!question || controller) return;
    const deep = form.deep.checked;
    const history = deep ? [] : turns.filter((t) => !t.error || t.steps.some((s) => s.content)).map((t) => ({ role: t.role, content: t.role === "user" ? t.content : t.steps.map((s) => s.content).join("\n\n") }));
    const turn = { role: "assistant", deep, steps: [], error: null, status: "" };
    turns.push({ role: "user", content: question }, turn);
    form.q.value = "";
    controller = new AbortController();
    submit.disabled = true; stop.hidden = false; clear.hidden = true;
    redraw();
    try {
      await stream(box.dataset.ask, { messages: [...history, { role: "user", content: question }], deep_research: deep, model: form.model.value }, turn, conversation, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") turn.status = "Stopped.";
      else turn.error = `The answer broke off: ${error.message}`;
    } finally {
      controller = null;
      submit.disabled = false; stop.hidden = true;
      save(); redraw();
      conversation.scrollTop = conversation.scrollHeight;
    }
  });
  box.dataset.ready = "1"; // the form is this script's from here on (before, it would submit as a plain form)
}

async function stream(url, body, turn, conversation, signal) {
  const response = await postJSON(url, body, signal);
  if (!response.ok) { turn.error = await problem(response); return; }
  const node = conversation.lastElementChild;
  let step = null, view = null;
  const begin = (info) => {
    step = { iteration: info.iteration || 1, final: !!info.final, content: "", html: "", sources: [] };
    turn.steps.push(step);
    view = part(turn, step);
    node.append(view.box);
  };
  for await (const { name, data } of events(response)) {
    if (name === "step" || !step) begin(name === "step" ? data : {});
    if (name === "step") continue;
    if (name === "sources") { step.sources = data.sources; view.box.append(sourceList(data.sources)); }
    else if (name === "delta") { step.content += data.text; if (!step.html) view.answer.textContent = step.content; }
    else if (name === "html") { step.html = data.html; view.answer.innerHTML = data.html; }
    else if (name === "notice") node.append(el("p", { class: "status", text: data.message }));
    else if (name === "usage") turn.status = `${data.prompt_tokens} + ${data.completion_tokens} tokens${data.cost != null ? ` · $${data.cost.toFixed(6)}` : ""}`;
    else if (name === "error") { turn.error = data.message; return; }
    else if (name === "done") turn.status = [turn.status, data.target ? `answered by ${data.target}` : ""].filter(Boolean).join(" · ");
    conversation.scrollTop = conversation.scrollHeight;
  }
}
