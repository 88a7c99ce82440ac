// Mermaid diagrams drawn as SVG, with pan (drag) and zoom (buttons, or the wheel with Ctrl); a diagram that fails
// to draw keeps its source, with the error above it — never a blank. Loaded only on pages that have a diagram.
import mermaid from "./vendor/mermaid/mermaid.esm.min.mjs";

let ready = false;
let counter = 0;

function setup() {
  if (ready) return;
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
  ready = true;
}

export async function draw(root) {
  setup();
  for (const figure of root.querySelectorAll("figure.diagram:not([data-drawn])")) {
    figure.dataset.drawn = "1";
    const source = figure.querySelector(".diagram-source");
    const text = source.textContent;
    const id = `diagram-${++counter}`;
    try {
      const { svg } = await mermaid.render(id, text);
      source.hidden = true;
      figure.insertAdjacentHTML("beforeend", svg);
      const drawn = figure.querySelector("svg");
      drawn.setAttribute("role", "img");
      drawn.setAttribute("aria-label", "Diagram");
      panZoom(figure, drawn);
    } catch (error) {
      document.getElementById(id)?.remove();
      document.getElementById(`d${id}`)?.remove();
      const message = document.createElement("p");
      message.className = "diagram-error";
      message.setAttribute("role", "note");
      message.textContent = `This diagram could not be drawn: ${String(error?.message || error).split("\n")[0]}`;
      figure.prepend(message);
      figure.dataset.failed = "1";
    }
  }
}

function panZoom(figure, svg) {
  const box = svg.viewBox.baseVal;
  if (!box || !box.width) return;
  const home = { x: box.x, y: box.y, w: box.width, h: box.height };
  let view = { ...home };
  const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  const zoom = (factor, cx = 0.5, cy = 0.5) => {
    const w = Math.min(home.w * 4, Math.max(home.w / 8, view.w * factor));
    const h = (w / view.w) * view.h;
    view = { x: view.x + (view.w - w) * cx, y: view.y + (view.h - h) * cy, w, h };
    apply();
  };
  const tools = document.createElement("div");
  tools.className = "diagram-tools";
  for (const [label, title, act] of [["+", "Zoom in", () => zoom(0.8)], ["−", "Zoom out", () => zoom(1.25)], ["⟲", "Reset", () => { view = { ...home }; apply(); }]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.title = title;
    button.setAttribute("aria-label", title);
    button.addEventListener("click", act);
    tools.append(button);
  }
  figure.append(tools);
  svg.addEventListener("wheel", (event) => {
    if (!event.ctrlKey && !event.metaKey) return; // plain wheel scrolls the page
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    zoom(event.deltaY > 0 ? 1.1 : 0.9, (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => { drag = { x: event.clientX, y: event.clientY, view: { ...view } }; svg.setPointerCapture(event.pointerId); });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const rect = svg.getBoundingClientRect();
    view = { ...drag.view, x: drag.view.x - ((event.clientX - drag.x) * view.w) / rect.width, y: drag.view.y - ((event.clientY - drag.y) * view.h) / rect.height };
    apply();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
}
