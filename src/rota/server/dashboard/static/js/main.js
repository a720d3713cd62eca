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
import { whenUnauthenticated } from "./api.js";
import { check, session, signOut } from "./session.js";
import { signInPage } from "./signin.js";
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
const RETRY_MS = 2000;

const app = {
  view: null,
  generation: 0,
  refreshTimer: null,
  lastRefresh: 0,
  source: null,
  streams: 0,  // counts event streams opened or stopped: a late retry of an old one does nothing
  signingIn: false,
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

function leaveView() {
  const generation = ++app.generation;
  if (app.view && app.view.destroy) app.view.destroy();
  app.view = null;
  return generation;
}

async function render() {
  if (!session.signed_in) { showSignIn(); return; }
  const generation = leaveView();
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
    if (generation !== app.generation || error.status === 401) return;  // 401: sign-in shows
    container.replaceChildren(h("h1", {}, module.title), h("div", { class: "notice" }, error.message));
  }
}

/** Follow the live event stream (the session cookie admits it); stop any stream before. */
function follow() {
  stopFollowing();
  const stream = app.streams;
  const status = document.getElementById("live");
  const source = new EventSource("/api/v1/events");
  app.source = source;
  const again = () => setTimeout(() => { if (app.streams === stream) follow(); }, RETRY_MS);
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "live on"; });
  source.addEventListener("error", () => {
    status.textContent = "reconnecting"; status.className = "live off";
    // The browser retries a lost connection itself, but gives up on a refusal (401, 403):
    // see whether the session has ended, and try again while it has not.
    if (source.readyState === EventSource.CLOSED) recheck().then((signedIn) => { if (signedIn) again(); });
  });
  for (const kind of ["job", "progress", "worker", "refresh"]) {
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data || "{}");
      const view = app.view;
      if (view && view.notice && view.notice(kind, data) === true) return;  // handled in place
      app.refreshSoon();
    });
  }
  source.addEventListener("closing", () => { source.close(); again(); });
}

function stopFollowing() {
  app.streams += 1;
  if (app.source) app.source.close();
  app.source = null;
}

/** Show the sign-in page in place of the view (the address stays: it is the page wanted). */
function showSignIn(note = "") {
  if (app.signingIn) return;
  app.signingIn = true;
  leaveView();
  stopFollowing();
  showWho();
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.remove("active");
  document.title = "Sign in · Rota";
  signInPage(document.getElementById("view"), enter, note);
}

/** Open the app as the session allows: the page wanted and the live stream, or the sign-in page. */
async function enter() {
  try {
    await check();
  } catch (error) {
    document.getElementById("view").replaceChildren(h("h1", {}, "Rota"),
      h("div", { class: "notice" }, `Cannot reach the server (${error.message}); trying again.`));
    setTimeout(enter, RETRY_MS);
    return;
  }
  app.signingIn = false;
  showWho();
  if (!session.signed_in) { showSignIn(); return; }
  render();
  follow();
}

let rechecking = null;
/** After a 401, ask whether the session has ended; if so, show the sign-in page. Says
 * whether still signed in (many 401s at once make one question). */
function recheck() {
  rechecking ||= check().then(
    () => { if (!session.signed_in) showSignIn("Your session has ended: sign in again."); return session.signed_in; },
    () => session.signed_in).finally(() => { rechecking = null; });
  return rechecking;
}
whenUnauthenticated(() => { if (!app.signingIn) recheck(); });

/** Show who is signed in (a token's name and role) and the sign-out control, or neither. */
function showWho() {
  const withToken = session.signed_in && session.token_id !== null && !app.signingIn;
  const who = document.getElementById("who");
  who.hidden = !withToken;
  who.textContent = withToken ? `${session.name} · ${session.role}` : "";
  who.title = withToken ? `Signed in with token ${session.token_id} (role ${session.role})` : "";
  document.getElementById("sign-out").hidden = !withToken;
  document.body.classList.toggle("signed-out", app.signingIn);
}
document.getElementById("sign-out").addEventListener("click", async () => {
  try { await signOut(); } catch (error) { toast(`Sign out: ${error.message}`, "error"); return; }
  showSignIn();
});

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
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason?.status === 401) return;  // the sign-in page answers it
  toast(String(event.reason?.message || event.reason), "error");
});
enter();
setInterval(tickElapsed, 1000);
