// Schedules: list with next fire times; create and edit with a preview; pause, resume,
// trigger and delete. Reads /api/v1/schedules; says so when the server has none.
//
// A schedule's times are shown on the clocks of its own zone (a Europe/Berlin schedule at
// 03:00 reads 03:00 CET, wherever the reader is), and its cron expression also in words.
// The form's start and end are typed on those clocks too, as the zone field says.
import { ApiError, api, get, post } from "../api.js";
import { may } from "../session.js";
import { ago, badge, dataTable, duration, empty, h, label, link, rowLink, shortId, time, toast, when } from "../ui.js";
import { fromZoneInput, zoneInput } from "../zone.js";

const PREVIEW_COUNT = 5;

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
    if (ref) return editPage(container, ref === "new" ? null : decodeURIComponent(ref), app);
    const body = h("div", { class: "panel flush" });
    container.append(h("h1", {}, "Schedules", h("span", { class: "spacer" }),
      h("a", { href: "/schedules/new", "data-link": true, class: "button primary", needs: "write" }, "New schedule")), body);
    const act = async (label, method, path) => {
      try { await api(method, path); toast(`${label}: done`); } catch (e) { toast(`${label}: ${e.message}`, "error"); }
      await refresh();
    };
    const draw = () => {
      const items = listing.schedules || [];
      body.replaceChildren(items.length === 0 ? empty("No schedules yet.") : dataTable({ "data-testid": "schedules-table", id: "schedules" },
        [{ label: "Name" }, { label: "When" }, { label: "Task" }, { label: "State" },
          { label: "Next fire", key: (tr) => tr.dataset.next }, { label: "Last fire", key: (tr) => tr.dataset.last }, { label: "", sort: false }],
        items.map((sc) => rowLink(`/schedules/${encodeURIComponent(sc.name)}`,
          { "data-schedule": sc.id, "data-next": sc.paused ? "~" : sc.next_fire_at || "~", "data-last": sc.last_fire_at || "" },
          h("td", {}, link(`/schedules/${encodeURIComponent(sc.name)}`, sc.name)),
          h("td", {}, timing(sc)),
          h("td", {}, sc.task), h("td", {}, badge(sc.paused ? "paused" : "active")),
          h("td", { "data-testid": "next-fire" }, nextFire(sc)),
          h("td", {}, sc.last_fire_at ? h("span", { title: time(sc.last_fire_at, { zone: sc.tz, date: "always" }) }, ago(sc.last_fire_at)) : "–",
            sc.last_job_state ? [" ", link(`/jobs/${sc.last_job_id}`, badge(sc.last_job_state))] : null),
          h("td", { "data-label": "" }, h("div", { class: "toolbar", style: "margin:0" },
            sc.paused ? h("button", { needs: "write", onclick: () => act("Resume", "POST", `/schedules/${sc.id}/resume`) }, "Resume")
              : h("button", { needs: "write", onclick: () => act("Pause", "POST", `/schedules/${sc.id}/pause`) }, "Pause"),
            h("button", { needs: "write", onclick: () => act("Trigger", "POST", `/schedules/${sc.id}/trigger`) }, "Trigger"),
            h("button", { class: "danger", needs: "write", onclick: () => confirm(`Delete ${sc.name}?`) && act("Delete", "DELETE", `/schedules/${sc.id}`) }, "Delete")))))));
    };
    const refresh = async () => { listing = await get("/schedules"); draw(); };
    draw();
    return { refresh, notice: (kind) => kind === "worker" };
  },
};

/** When a schedule fires: its cron expression, in words and zone, its interval, or a calendar event. */
function timing(sc) {
  if (sc.ics) return h("span", {}, `calendar event${sc.before_s ? `, ${duration(sc.before_s)} before` : ""}`);
  if (!sc.cron) return h("span", {}, `every ${duration(sc.interval_s)}`);
  return h("div", {}, h("div", { "data-testid": "description" }, sc.description || sc.cron),
    h("div", { class: "muted mono" }, `${sc.cron} · ${sc.tz}`));
}

/** The next fire time on the schedule's clocks; a paused schedule has none. */
function nextFire(sc) {
  if (sc.paused) return h("span", { class: "muted" }, "– (paused)");
  if (!sc.next_fire_at) return "–";
  return when(sc.next_fire_at, { zone: sc.tz });
}

// Form fields by their name in request bodies, the name a stored schedule shows them by,
// and their kind. Empty fields are left out of the body (the server's default applies).
const FIELDS = [
  ["name", { placeholder: "nightly-report", required: true }],
  ["task", { placeholder: "rota.echo", required: true }],
  ["cron", { placeholder: "*/5 * * * *  (or leave empty and give an interval)" }],
  ["interval", { type: "number", min: 0, step: "any", placeholder: "seconds", stored: "interval_s", label: "Interval (seconds)" }],
  ["tz", { value: "UTC", label: "Time zone", hint: "IANA name, e.g. Europe/Berlin; cron times are read on its clocks" }],
  ["args", { json: "[]", label: "Args (JSON list)" }],
  ["kwargs", { json: "{}", label: "Kwargs (JSON object)" }],
  ["queue", { value: "default" }],
  ["priority", { type: "number", value: 0 }],
  ["target", { placeholder: "worker name or tag" }],
  ["max_attempts", { type: "number", value: 3, min: 1 }],
  ["timeout", { type: "number", min: 0, step: "any", placeholder: "seconds", stored: "timeout_s", label: "Timeout (seconds)" }],
  ["jitter", { type: "number", value: 0, min: 0, step: "any", stored: "jitter_s", label: "Jitter (seconds)" }],
  ["misfire", { choices: ["once", "skip", "all"], label: "After downtime (misfire)",
    hint: "once: run one missed occurrence; skip: none; all: every one, up to the limit" }],
  ["misfire_limit", { type: "number", min: 1, placeholder: "default", label: "Misfire limit" }],
  ["overlap", { choices: ["allow", "skip"], label: "Overlap", hint: "skip: do not fire while the last occurrence is pending or running" }],
  ["deadline", { type: "number", min: 0, step: "any", placeholder: "seconds after the fire time", stored: "deadline_s", label: "Deadline (seconds)" }],
  ["start_at", { moment: true, label: "Start" }],
  ["end_at", { moment: true, label: "End" }],
];

async function editPage(container, ref, app) {
  const current = ref ? await get(`/schedules/${encodeURIComponent(ref)}`) : null;
  const stored = (name, options) => {
    const value = current ? current[options.stored || name] : undefined;
    return value === null || value === undefined ? undefined : value;
  };
  const controls = {};
  const rows = [];
  const zoneNotes = [];  // the words beside start and end naming the zone they are read in
  const formZone = () => (controls.tz && controls.tz.value.trim()) || "UTC";
  const zoneNote = () => `on the schedule's clocks (${formZone()}, its time zone above)`;
  for (const [name, options] of FIELDS) {
    const value = stored(name, options);
    let control;
    if (options.json) {
      control = h("textarea", { id: name, name, rows: 2 }, value === undefined ? options.json : JSON.stringify(value));
    } else if (options.choices) {
      control = h("select", { id: name, name }, h("option", { value: "" }, "default"),
        options.choices.map((c) => h("option", { value: c, selected: value === c }, c)));
    } else if (options.moment) {
      let shown = "";
      try { shown = value ? zoneInput(value, formZone()) : ""; } catch { shown = ""; }
      control = h("input", { id: name, name, type: "datetime-local", step: 1, value: shown });
    } else {
      const { stored: _s, label: _l, hint: _h, ...attrs } = options;
      control = h("input", { id: name, name, ...attrs, value: value ?? options.value ?? "" });
    }
    if (current && name === "name") control.disabled = true;  // a schedule keeps its name
    controls[name] = control;
    const text = options.label || label(name);
    let hint = options.hint;
    if (options.moment) {
      hint = h("span", { "data-testid": `${name}-zone` }, zoneNote());
      zoneNotes.push(hint);
    }
    rows.push(h("label", { for: name }, text),
      hint ? h("div", {}, control, h("div", { class: "hint" }, hint)) : control);
  }
  const paused = h("input", { type: "checkbox", id: "paused", checked: Boolean(current && current.paused) });
  const words = h("div", { "data-testid": "preview-words" });
  const preview = h("ol", { class: "mono fire-times", "data-testid": "preview" });
  const note = h("p", { class: "muted", "data-testid": "preview-note" });
  const error = h("div", { role: "alert", "data-testid": "form-error", style: "color:var(--failed)" });
  const body = () => {
    const data = { paused: paused.checked };
    for (const [name, options] of FIELDS) {
      const raw = controls[name].value.trim();
      if (raw === "") continue;  // left as it is (a new cron replaces an interval and back)
      if (options.json) {
        try { data[name] = JSON.parse(raw); } catch (e) { throw new Error(`${options.label}: not valid JSON (${e.message})`); }
      } else if (options.moment) {
        try { data[name] = fromZoneInput(raw, formZone()).toISOString(); } catch {
          throw new Error(`${options.label}: cannot read it in the time zone "${formZone()}"`);
        }
      }
      else data[name] = controls[name].type === "number" ? Number(raw) : raw;
    }
    return data;
  };
  const showTimes = (times, zone) => {
    preview.replaceChildren(...times.slice(0, PREVIEW_COUNT).map((t) => h("li", {}, time(t, { zone, date: "always" }))));
  };
  const say = (text) => { preview.replaceChildren(); note.textContent = text; };
  let timer = null;
  const showPreview = () => {
    clearTimeout(timer);
    if (!may("write")) return;  // asking is a POST: a read token would only be refused
    timer = setTimeout(async () => {
      let spec;
      try {
        const { name: _name, paused: _paused, ...rest } = body();
        spec = rest;
      } catch (e) { say(e.message); return; }
      if (spec.cron === undefined && spec.interval === undefined) {
        // Nothing to preview yet: asking would only earn a 422 (and a console error).
        words.textContent = "";
        say("Give a cron expression or an interval to see when it fires.");
        return;
      }
      try {
        const answer = await post(`/schedules/preview?count=${PREVIEW_COUNT}`, { task: "preview", ...spec });
        note.textContent = current && current.paused ? "Paused: it fires at none of these until resumed." : "";
        words.textContent = answer.description ? `${answer.description} (${spec.tz || "UTC"})` : "";
        showTimes(answer.next_fire_times, spec.tz || "UTC");
      } catch (e) {
        words.textContent = "";
        say(e.message);
      }
    }, 250);
  };
  for (const control of Object.values(controls)) control.addEventListener("input", showPreview);
  controls.tz.addEventListener("input", () => { for (const note of zoneNotes) note.textContent = zoneNote(); });
  const form = h("form", { class: "form panel", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const data = body();
      if (current) delete data.name;  // a schedule keeps its name
      const saved = current ? await api("PATCH", `/schedules/${current.id}`, data) : await post("/schedules", data);
      toast(`Saved ${saved.name}`);
      app.navigate("/schedules");
    } catch (e) { error.textContent = e.message; }
  } },
    ...rows, h("label", { for: "paused" }, "Paused"), h("div", {}, paused),
    h("label", {}, "In words"), words,
    h("label", {}, `Next ${PREVIEW_COUNT} fire times`), h("div", {}, note, preview), h("span"), error,
    h("span"), h("div", {}, h("button", { class: "primary", type: "submit", needs: "write" }, current ? "Save" : "Create")));
  container.append(h("h1", {}, current ? `Schedule ${current.name}` : "New schedule",
    current ? h("span", { class: "spacer" }) : null,
    current ? link(`/jobs?schedule=${encodeURIComponent(current.name)}`, "All its jobs", { class: "button", "data-testid": "its-jobs" }) : null), form);
  if (current) container.append(await pastRuns(current));
  if (current) {
    words.textContent = current.description ? `${current.description} (${current.tz})` : "";
    if (current.paused) note.textContent = "Paused: it fires at none of these until resumed.";
    showTimes(current.next_fire_times || [], current.tz);
  } else showPreview();
  return { notice: () => true, destroy: () => clearTimeout(timer) };
}

/** The schedule's past occurrences, newest first: each job's outcome, or why it was skipped. */
async function pastRuns(sc) {
  const { runs } = await get(`/schedules/${encodeURIComponent(sc.id)}/runs?limit=50`);
  return h("div", { class: "panel" }, h("h2", {}, "Past runs"), runs.length === 0 ? empty("It has not fired yet.") : dataTable({ "data-testid": "runs", id: "runs" },
    [{ label: "Fire time", key: (tr) => tr.dataset.fire }, { label: "Outcome" }, { label: "Job", sort: false }, { label: "Ran for", num: true, key: (tr) => Number(tr.dataset.took) }],
    runs.map((run) => {
      const j = run.job;
      const took = j && j.started_at && j.finished_at ? (Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000 : null;
      const cells = [
        h("td", {}, run.fire_at ? when(run.fire_at, { zone: sc.tz }) : h("span", { class: "muted" }, "triggered by hand")),
        h("td", {}, badge(run.outcome), run.reason ? h("div", { class: "muted", "data-testid": "skip-reason" }, run.reason) : null),
        h("td", { class: "mono" }, j ? link(`/jobs/${j.id}`, shortId(j.id), { title: j.id }) : "–"),
        h("td", {}, duration(took))];
      const attrs = { "data-fire": run.fire_at || (j && j.created_at) || "", "data-took": took ?? -1 };
      return j ? rowLink(`/jobs/${j.id}`, attrs, ...cells) : h("tr", attrs, ...cells);
    })));
}
