// Submit: a job by task name, with JSON args and the common options.
import { get, post } from "../api.js";
import { refusal } from "../session.js";
import { h, toast } from "../ui.js";

export default {
  title: "Submit",
  async mount(container, _params, app) {
    const { tasks } = await get("/tasks");
    const field = (label, control) => [h("label", { for: control.id }, label), control];
    const task = h("input", { id: "task", name: "task", list: "task-names", required: true, placeholder: "rota.echo", autocomplete: "off" });
    const args = h("textarea", { id: "args", name: "args", rows: 4 }, "[]");
    const kwargs = h("textarea", { id: "kwargs", name: "kwargs", rows: 3 }, "{}");
    const queue = h("input", { id: "queue", name: "queue", value: "default" });
    const priority = h("input", { id: "priority", name: "priority", type: "number", value: 0, min: -1000, max: 1000 });
    const delay = h("input", { id: "delay", name: "delay", type: "number", min: 0, step: "any", placeholder: "seconds; empty for now" });
    const attempts = h("input", { id: "max_attempts", name: "max_attempts", type: "number", value: 3, min: 1, max: 1000 });
    const timeout = h("input", { id: "timeout", name: "timeout", type: "number", min: 0, step: "any", placeholder: "seconds" });
    const key = h("input", { id: "idempotency_key", name: "idempotency_key", placeholder: "optional" });
    const target = h("input", { id: "target", name: "target", placeholder: "worker name or tag" });
    const error = h("div", { class: "full", role: "alert", style: "color:var(--failed)" });
    const parse = (control, label) => {
      try { return JSON.parse(control.value || (control === args ? "[]" : "{}")); } catch (e) { throw new Error(`${label} is not valid JSON: ${e.message}`); }
    };
    const form = h("form", { class: "form panel", onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const body = { task: task.value.trim(), args: parse(args, "args"), kwargs: parse(kwargs, "kwargs"),
          queue: queue.value.trim() || "default", priority: Number(priority.value || 0), max_attempts: Number(attempts.value || 3) };
        if (delay.value) body.delay = Number(delay.value);
        if (timeout.value) body.timeout = Number(timeout.value);
        if (key.value.trim()) body.idempotency_key = key.value.trim();
        if (target.value.trim()) body.target = target.value.trim();
        const job = await post("/jobs", body);
        toast(`Submitted ${job.task}`);
        app.navigate(`/jobs/${job.id}`);
      } catch (e) {
        error.textContent = e.message;
      }
    } },
      h("datalist", { id: "task-names" }, tasks.map((name) => h("option", { value: name }))),
      ...field("Task", task), ...field("Args (JSON list)", args), ...field("Kwargs (JSON object)", kwargs),
      ...field("Queue", queue), ...field("Priority", priority), ...field("Delay", delay),
      ...field("Max attempts", attempts), ...field("Timeout", timeout), ...field("Idempotency key", key),
      ...field("Target", target), error,
      h("span"), h("div", {}, h("button", { class: "primary", type: "submit", "data-testid": "submit", needs: "write" }, "Submit job")));
    const refused = refusal("write");
    container.append(h("h1", {}, "Submit a job"), refused ? h("div", { class: "notice", "data-testid": "refused" }, refused) : null, form);
    return { notice: () => true };  // nothing here changes with the cluster
  },
};
