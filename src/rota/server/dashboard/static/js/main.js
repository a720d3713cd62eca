// The dashboard's shell: a router over history, the live event stream, and view lifecycles.
import overview from "./views/overview.js";
import jobs from "./views/jobs.js";
import job from "./views/job.js";
import schedules from "./views/schedules.js";
import workers from "./views/workers.js";
import worker from "./views/worker.js";
import tasks from "./views/tasks.js";
import reminders from "./views/reminders.js";
import submit from "./views/submit.js";
import { h, localZoneLabel, tickElapsed, toast } from "./ui.js";
import { setZoneMode, zoneMode } from "./zone.js";

const ROUTES = [
  [/^\/$/, overview, "overview"],
  [/^\/jobs\/?$/, jobs, "jobs"],
  [/^\/jobs\/([^/]+)\/?$/, job, "jobs"],
  [/^\/schedules(?:\/([^/]+))?\/?$/, schedules, "schedules"],
  [/^\/reminders\/?$/, reminders, "reminders"],
  [/^\/workers\/?$/, workers, "workers"],
  [/^\/workers\/([^/]+)\/?$/, worker, "workers"],
  [/^\/tasks\/?$/, tasks, "tasks"],
  [/^\/submit\/?$/, submit, "submit"],
];
const REFRESH_MIN_MS = 700;

const app = {
  view: null,
  generation: 0,
  refreshTimer: null,
  lastRefresh: 0,
  navigate(href, { replace = false } = {}) {
    if (href === location.pathname + location.search) return;
    history[replace ? "replaceState" : "pushState"]({}, "", href);
    render();
  },
  /** Ask the current view to re-read its data soon (many notices make one refresh). */
  refreshSoon() {
    if (this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefresh + REFRESH_MIN_MS - Date.now());
    this.refreshTimer = setTimeout(async () => {
      this.refreshTimer = null;
      this.lastRefresh = Date.now();
      const view = this.view;
      if (view && view.refresh) {
        try { await view.refresh(); } catch (error) { console.warn("refresh failed", error); }
      }
    }, wait);
  },
};

async function render() {
  const generation = ++app.generation;
  if (app.view && app.view.destroy) app.view.destroy();
  app.view = null;
  const path = location.pathname;
  const container = document.getElementById("view");
  let match = null, route = null;
  for (const candidate of ROUTES) {
    match = candidate[0].exec(path);
    if (match) { route = candidate; break; }
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", route !== null && a.dataset.nav === route[2]);
  }
  container.replaceChildren();
  if (!route) {
    container.append(h("h1", {}, "Not found"), h("p", { class: "muted" }, `Nothing lives at ${path}.`));
    return;
  }
  const [, module] = route;
  document.title = `${module.title} · Rota`;
  try {
    const view = await module.mount(container, match.slice(1), app);
    if (generation !== app.generation) { if (view && view.destroy) view.destroy(); return; }
    app.view = view || null;
  } catch (error) {
    if (generation !== app.generation) return;
    container.replaceChildren(h("h1", {}, module.title), h("div", { class: "notice" }, error.message));
  }
}

function follow() {
  const status = document.getElementById("live");
  const source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "live on"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting"; status.className = "live off"; });
  for (const kind of ["job", "progress", "worker", "refresh"]) {
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data || "{}");
      const view = app.view;
      if (view && view.notice && view.notice(kind, data) === true) return;  // handled in place
      app.refreshSoon();
    });
  }
  source.addEventListener("closing", () => source.close() || setTimeout(follow, 2000));
}

// A row with data-href opens its page when clicked anywhere but on its own controls.
document.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-href]");
  if (!row || event.defaultPrevented || event.target.closest("a, button, input, select, textarea, label")) return;
  if (window.getSelection && String(window.getSelection()).length > 0) return;  // selecting text
  if (event.metaKey || event.ctrlKey) window.open(row.dataset.href, "_blank");
  else app.navigate(row.dataset.href);
});

function showZone() {
  const button = document.getElementById("zone");
  const utc = zoneMode() === "utc";
  button.textContent = utc ? "UTC" : `Local · ${localZoneLabel()}`;
  button.setAttribute("aria-label", utc ? "Times in UTC; switch to your zone" : "Times in your zone; switch to UTC");
}
document.getElementById("zone").addEventListener("click", () => {
  setZoneMode(zoneMode() === "utc" ? "local" : "utc");
  showZone();
  render();
});
showZone();

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  app.navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
window.addEventListener("unhandledrejection", (event) => toast(String(event.reason?.message || event.reason), "error"));
render();
follow();
setInterval(tickElapsed, 1000);
