// Schedules: list with next fire times; create and edit with a preview; pause, resume,
// trigger and delete. Reads /api/v1/schedules; says so when the server has none.
import { ApiError, api, get, post } from "../api.js";
import { ago, badge, duration, empty, h, link, time, toast } from "../ui.js";

export default {
  title: "Schedules",
  async mount(container, [ref], app) {
    let listing;
    try {
      listing = await get("/schedules");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        container.append(h("h1", {}, "Schedules"), h("div", { class: "notice", "data-testid": "unavailable" },
          "Schedules are unavailable on this server."));
        return { notice: () => true };
      }
      throw error;
    }
    if (ref) return editPage(container, ref === "new" ? null : ref, app);
    const body = h("div", { class: "panel", style: "padding:0" });
    container.append(h("h1", {}, "Schedules", h("span", { class: "spacer" }),
      h("a", { href: "/schedules/new", "data-link": true }, h("button", { class: "primary" }, "New schedule"))), body);
    const act = async (label, method, path) => {
      try { await api(method, path); toast(`${label}: done`); } catch (e) { toast(`${label}: ${e.message}`, "error"); }
      await refresh();
    };
    const draw = () => {
      const items = listing.schedules || [];
      body.replaceChildren(items.length === 0 ? empty("No schedules yet.") : h("table", { "data-testid": "schedules-table" },
        h("thead", {}, h("tr", {}, ...["Name", "When", "Task", "State", "Next fire", "Last fire", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, items.map((sc) => h("tr", { "data-schedule": sc.id },
          h("td", {}, link(`/schedules/${sc.id}`, sc.name)),
          h("td", { class: "mono" }, sc.cron ? `${sc.cron} (${sc.tz})` : `every ${duration(sc.interval_s)}`),
          h("td", {}, sc.task), h("td", {}, badge(sc.paused ? "paused" : "active")),
          h("td", {}, sc.next_fire_at ? `${time(sc.next_fire_at)}` : "–"),
          h("td", {}, sc.last_fire_at ? ago(sc.last_fire_at) : "–"),
          h("td", {}, h("div", { class: "toolbar", style: "margin:0" },
            sc.paused ? h("button", { onclick: () => act("Resume", "POST", `/schedules/${sc.id}/resume`) }, "Resume")
              : h("button", { onclick: () => act("Pause", "POST", `/schedules/${sc.id}/pause`) }, "Pause"),
            h("button", { onclick: () => act("Trigger", "POST", `/schedules/${sc.id}/trigger`) }, "Trigger"),
            h("button", { class: "danger", onclick: () => confirm(`Delete ${sc.name}?`) && act("Delete", "DELETE", `/schedules/${sc.id}`) }, "Delete"))))))));
    };
    const refresh = async () => { listing = await get("/schedules"); draw(); };
    draw();
    return { refresh, notice: (kind) => kind === "worker" };
  },
};

// Form fields by their name in request bodies, and the name a stored schedule shows them by.
const FIELDS = ["name", "task", "cron", "interval", "tz", "queue", "priority", "max_attempts", "jitter"];
const STORED = { interval: "interval_s", jitter: "jitter_s" };

async function editPage(container, ref, app) {
  const current = ref ? await get(`/schedules/${encodeURIComponent(ref)}`) : null;
  const value = (name, fallback = "") => {
    const stored = current ? current[STORED[name] || name] : undefined;
    return stored !== null && stored !== undefined ? stored : fallback;
  };
  const input = (name, attrs = {}) => h("input", { id: name, name, value: value(name, attrs.value ?? ""), ...attrs });
  const controls = {
    name: input("name", { required: true, placeholder: "nightly-report" }),
    task: input("task", { required: true, placeholder: "rota.echo" }),
    cron: input("cron", { placeholder: "*/5 * * * *  (or leave empty and give an interval)" }),
    interval: input("interval", { type: "number", min: 0, step: "any", placeholder: "seconds" }),
    tz: input("tz", { value: "UTC" }),
    queue: input("queue", { value: "default" }),
    priority: input("priority", { type: "number", value: 0 }),
    max_attempts: input("max_attempts", { type: "number", value: 3, min: 1 }),
    jitter: input("jitter", { type: "number", value: 0, min: 0, step: "any" }),
  };
  const args = h("textarea", { id: "args", name: "args", rows: 3 }, JSON.stringify(value("args", [])));
  const paused = h("input", { type: "checkbox", id: "paused", checked: Boolean(value("paused", false)) });
  const preview = h("ol", { class: "mono", "data-testid": "preview" });
  const error = h("div", { role: "alert", style: "color:var(--failed)" });
  const body = () => {
    const data = { args: JSON.parse(args.value || "[]"), paused: paused.checked };
    for (const name of FIELDS) {
      const raw = controls[name].value.trim();
      if (raw === "") continue;  // left as it is (a new cron replaces an interval and back)
      data[name] = controls[name].type === "number" ? Number(raw) : raw;
    }
    return data;
  };
  let timer = null;
  const showPreview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const { name: _name, paused: _paused, ...spec } = body();
        for (const key of Object.keys(spec)) if (spec[key] === null) delete spec[key];
        if (spec.cron === undefined && spec.interval === undefined) {
          // Nothing to preview yet: asking would only earn a 422 (and a console error).
          preview.replaceChildren(h("li", { class: "muted" }, "Give a cron expression or an interval."));
          return;
        }
        const answer = await post("/schedules/preview?count=5", { task: "preview", ...spec });
        const times = answer.next_fire_times;
        preview.replaceChildren(...times.map((t) => h("li", {}, `${time(t)}  (${t})`)));
        error.textContent = "";
      } catch (e) {
        preview.replaceChildren(h("li", { class: "muted" }, e.message));
      }
    }, 250);
  };
  for (const control of [...Object.values(controls), args]) control.addEventListener("input", showPreview);
  const form = h("form", { class: "form panel", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const data = body();
      if (current) delete data.name;  // a schedule keeps its name
      const saved = current ? await api("PATCH", `/schedules/${current.id}`, data) : await post("/schedules", data);
      toast(`Saved ${saved.name}`);
      app.navigate("/schedules");
    } catch (e) { error.textContent = e.message; }
  } },
    ...FIELDS.flatMap((name) => [h("label", { for: name }, name), controls[name]]),
    h("label", { for: "args" }, "args (JSON)"), args, h("label", { for: "paused" }, "paused"), h("div", {}, paused),
    h("label", {}, "Next 5 fire times"), preview, h("span"), error,
    h("span"), h("div", {}, h("button", { class: "primary", type: "submit" }, current ? "Save" : "Create")));
  container.append(h("h1", {}, current ? `Schedule ${current.name}` : "New schedule"), form);
  if (current && current.next_fire_times) {
    preview.replaceChildren(...current.next_fire_times.map((t) => h("li", {}, `${time(t)}  (${t})`)));
  } else showPreview();
  return { notice: () => true, destroy: () => clearTimeout(timer) };
}
