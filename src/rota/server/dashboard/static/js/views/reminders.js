// Reminders: what is coming, per device (held by it, or waiting to be handed over), and what
// happened (rung on time or late, expired, dismissed, snoozed), with snooze and dismiss.
// A reminder is a job whose task is rota.remind; its result says when it rang (a Rung).
import { get, post, query } from "../api.js";
import { badge, dataTable, duration, empty, h, relative, rowLink, toast, when } from "../ui.js";

const TASK = "rota.remind";
const FINISHED = ["succeeded", "expired", "cancelled", "failed"];
const UPCOMING_LIMIT = 200;
const HISTORY_LIMIT = 50;
const SNOOZE_MINUTES = [5, 10, 15, 30, 60];
const SNOOZE_PREFIX = "snooze:";

/** Which device a reminder that has not rung belongs to, as a group name. */
function groupOf(job) {
  if (job.state === "running" && job.worker) return job.worker;
  if (job.target && job.target.startsWith("device:")) return job.target.slice("device:".length);
  if (job.target === "device") return "any device";
  return job.target || "notifications only";
}

/** The outcome of a finished reminder: [badge class, words, detail]. */
function outcome(job, snoozed) {
  const rung = job.result && typeof job.result === "object" ? job.result : null;
  if (job.state === "succeeded") {
    if (rung && rung.late) return ["late", "rung late", `${duration(rung.late_s)} after its time`];
    return ["succeeded", "rung", rung && typeof rung.late_s === "number" ? `${duration(rung.late_s)} late` : null];
  }
  if (job.state === "cancelled") return snoozed.has(job.id) ? ["snoozed", "snoozed", null] : ["cancelled", "dismissed", null];
  if (job.state === "expired") return ["expired", "expired", "its deadline passed before a device took it"];
  return ["failed", job.state, job.error];
}

const text = (job) => (job.kwargs && typeof job.kwargs.text === "string" ? job.kwargs.text : "");
const reminders = (page) => page.jobs.filter((job) => job.task === TASK);  // `task` matches a prefix

export default {
  title: "Reminders",
  async mount(container) {
    const summary = h("div", { class: "cards" });
    const upcoming = h("div", { "data-testid": "upcoming" });
    const history = h("div", { class: "panel flush", "data-testid": "history" });
    container.append(h("h1", {}, "Reminders"), summary,
      h("h2", {}, "Upcoming"), upcoming, h("h2", {}, "History"), history);
    const minutes = new Map();  // the snooze length chosen per reminder, kept across redraws
    let data = null;

    const act = async (words, path, body) => {
      try {
        await post(path, body);
        toast(words);
      } catch (error) {
        toast(error.message, "error");
      }
      await refresh();
    };
    const snooze = (job) => {
      const chosen = minutes.get(job.id) || SNOOZE_MINUTES[0];
      return act(`Snoozed "${text(job)}" for ${chosen} min`, `/reminders/${encodeURIComponent(job.id)}/snooze`, { minutes: chosen });
    };
    const dismiss = (job) => act(`Dismissed "${text(job)}"`, `/reminders/${encodeURIComponent(job.id)}/dismiss`);
    const actions = (job, canDismiss) => h("td", { "data-label": "" }, h("div", { class: "toolbar tight" },
      h("select", { "aria-label": "snooze for", "data-testid": `snooze-minutes-${job.id}`,
        onchange: (e) => minutes.set(job.id, Number(e.target.value)) },
        SNOOZE_MINUTES.map((m) => h("option", { value: m, selected: (minutes.get(job.id) || SNOOZE_MINUTES[0]) === m }, `${m} min`))),
      h("button", { type: "button", "data-testid": `snooze-${job.id}`, needs: "write", onclick: () => snooze(job) }, "Snooze"),
      canDismiss ? h("button", { type: "button", class: "danger", "data-testid": `dismiss-${job.id}`, needs: "write", onclick: () => dismiss(job) }, "Dismiss") : null));

    const refresh = async () => {
      const jobs = (state, order, limit) => get(`/jobs${query({ task: TASK, state, sort: "run_at", order, limit })}`);
      const [devices, pending, running, ...finished] = await Promise.all([
        get("/devices"), jobs("pending", "asc", UPCOMING_LIMIT), jobs("running", "asc", UPCOMING_LIMIT),
        ...FINISHED.map((state) => jobs(state, "desc", HISTORY_LIMIT))]);
      data = {
        devices: devices.devices,
        upcoming: [...reminders(running), ...reminders(pending)].sort((a, b) => Date.parse(a.run_at) - Date.parse(b.run_at)),
        history: finished.flatMap(reminders).sort((a, b) => Date.parse(b.run_at) - Date.parse(a.run_at)).slice(0, HISTORY_LIMIT),
      };
      draw();
    };

    function draw() {
      const online = data.devices.filter((d) => d.online).length;
      const rungLate = data.history.filter((j) => j.state === "succeeded" && j.result && j.result.late).length;
      const card = (label, value, sub, testid) => h("div", { class: "card", "data-testid": testid }, h("div", { class: "label" }, label),
        h("div", { class: "value" }, value), h("div", { class: "sub" }, sub));
      summary.replaceChildren(
        card("Devices online", online, `of ${data.devices.length}`, "devices-online"),
        card("Upcoming", data.upcoming.length, `${data.upcoming.filter((j) => j.state === "running").length} held by devices`, "upcoming-count"),
        card("Rung late", rungLate, `of the last ${data.history.length}`, "rung-late"));

      const groups = new Map(data.devices.map((d) => [d.name, { device: d, jobs: [] }]));
      for (const job of data.upcoming) {
        const name = groupOf(job);
        if (!groups.has(name)) groups.set(name, { device: null, jobs: [] });
        groups.get(name).jobs.push(job);
      }
      upcoming.replaceChildren(...(groups.size === 0 ? [h("div", { class: "panel" },
        empty("No devices and no reminders yet. Start a device with `rota device --name NAME`, then `rota remind`."))] : []),
      ...[...groups].map(([name, group]) => {
        const d = group.device;
        const head = h("div", { class: "group-head" }, h("strong", {}, name),
          d ? badge(d.online ? "online" : "offline") : h("span", { class: "muted" }, "not a device"),
          d ? h("span", { class: "muted" }, `${d.held} held · ${d.waiting} waiting · seen ${d.last_seen_at ? relative(d.last_seen_at) : "never"}`) : null);
        const table = group.jobs.length === 0 ? empty("Nothing upcoming.") : dataTable({ "data-testid": `upcoming-${name}`, id: `upcoming-${name}` },
          [{ label: "Due", key: (tr) => Date.parse(tr.dataset.due) }, { label: "Text" }, { label: "State" }, { label: "", sort: false }],
          group.jobs.map((job) => rowLink(`/jobs/${encodeURIComponent(job.id)}`, { "data-reminder": job.id, "data-due": job.run_at },
            h("td", {}, when(job.run_at), h("div", { class: "muted", "data-relative": job.run_at }, relative(job.run_at))),
            h("td", { class: "reminder-text" }, text(job)),
            h("td", {}, job.state === "running" ? h("span", { class: "badge running", title: "handed over: the device keeps it and rings it by its own clock" }, "held")
              : h("span", { class: "badge pending", title: "not handed over yet" }, "waiting")),
            actions(job, true))));
        return h("section", { class: "panel flush group", "data-device": name }, head, table);
      }));

      const snoozed = new Set([...data.upcoming, ...data.history].map((j) => j.idempotency_key || "")
        .filter((key) => key.startsWith(SNOOZE_PREFIX)).map((key) => key.slice(SNOOZE_PREFIX.length)));
      history.replaceChildren(data.history.length === 0 ? empty("No reminder has rung yet.") : dataTable({ "data-testid": "history-table", id: "reminder-history" },
        [{ label: "Due", key: (tr) => Date.parse(tr.dataset.due) }, { label: "Text" }, { label: "Device" }, { label: "Outcome" },
          { label: "Rung at" }, { label: "", sort: false }],
        data.history.map((job) => {
          const [kind, words, detail] = outcome(job, snoozed);
          const rung = job.result && typeof job.result === "object" ? job.result : {};
          return rowLink(`/jobs/${encodeURIComponent(job.id)}`, { "data-reminder": job.id, "data-due": job.run_at, "data-outcome": kind },
            h("td", {}, when(job.run_at)),
            h("td", { class: "reminder-text" }, text(job)),
            h("td", {}, rung.device || job.worker || (job.target || "–").replace(/^device:/, "")),
            h("td", {}, h("span", { class: `badge ${kind}` }, words), detail ? h("div", { class: "muted" }, detail) : null),
            h("td", {}, rung.rung_at ? when(rung.rung_at, { ms: true }) : "–"),
            job.state === "succeeded" || job.state === "expired" ? actions(job, false) : h("td", { "data-label": "" }));
        })));
    }

    await refresh();
    const ticker = setInterval(() => {  // "in 4 min" moves on without a redraw
      for (const el of container.querySelectorAll("[data-relative]")) el.textContent = relative(el.dataset.relative);
    }, 1000);
    const poller = setInterval(refresh, 5000);  // heartbeats of devices on other servers
    return {
      refresh,
      notice: (kind) => kind === "progress",  // jobs and workers changing matter here
      destroy: () => { clearInterval(ticker); clearInterval(poller); },
    };
  },
};
