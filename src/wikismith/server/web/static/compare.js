// Models side by side on one prompt: each model's answer streams into its column, then its figures.
import { el, events, postJSON, problem } from "./common.js";

export function start(form) {
  const columns = form.parentNode.querySelector(".columns");
  const error = form.querySelector(".form-error");
  const [submit, stop] = [form.querySelector("button[type=submit]"), form.querySelector(".stop")];
  let controller = null;
  stop.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const models = [...form.querySelectorAll("input[name=models]:checked")].map((i) => i.value);
    models.push(...form.extra.value.split(",").map((s) => s.trim()).filter(Boolean));
    error.hidden = true;
    const cells = models.map((model) => {
      const column = el("section", { class: "column", "aria-label": model }, el("h3", { text: model }), el("p", { class: "figures", text: "waiting…" }), el("div", { class: "text" }));
      return column;
    });
    columns.replaceChildren(...cells);
    controller = new AbortController();
    submit.disabled = true; stop.hidden = false;
    try {
      const response = await postJSON(form.dataset.compare, { prompt: form.prompt.value, models }, controller.signal);
      if (!response.ok) throw new Error(await problem(response));
      for await (const { name, data } of events(response)) {
        const cell = cells[data.column];
        if (name === "text") cell.querySelector(".text").textContent += data.text;
        else if (name === "result") {
          const ms = (v) => (v == null ? "–" : `${Math.round(v)} ms`);
          const cost = data.cost == null ? "–" : `$${data.cost.toFixed(6)}${data.cost_is_estimate ? "*" : ""}`;
          cell.querySelector(".figures").textContent = data.ok
            ? `first token ${ms(data.ttft_ms)} · total ${ms(data.total_ms)} · ${data.prompt_tokens ?? "–"} in / ${data.completion_tokens ?? "–"} out · ${cost}`
            : "failed";
          if (!data.ok) cell.append(el("p", { class: "error-text", role: "alert", text: data.error }));
        }
      }
    } catch (failure) {
      if (failure.name !== "AbortError") { error.textContent = failure.message; error.hidden = false; }
    } finally {
      controller = null; submit.disabled = false; stop.hidden = true;
    }
  });
}
