// The sign-in page: a token typed into a password field, checked by POST /api/v1/session.
// The token goes only into that request's body; the server keeps it in an HttpOnly cookie,
// so it is never in a URL, in the browser's storage or in the page once signed in.
import { ApiError } from "./api.js";
import { session, signIn, signOut } from "./session.js";
import { h } from "./ui.js";

/** Show the sign-in form in `container`; call `done()` once signed in. `note` says why it shows. */
export function signInPage(container, done, note = "") {
  const field = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off",
    spellcheck: "false", placeholder: "rota_…", "data-testid": "token" });
  const problem = h("div", { role: "alert", class: "sign-in-problem", "data-testid": "sign-in-problem" });
  const button = h("button", { class: "primary", type: "submit", "data-testid": "sign-in" }, "Sign in");
  const say = (text) => { problem.textContent = text; field.value = ""; field.focus(); };
  // method=post: were the script ever to let the form go natively, the token stays out of the URL.
  const form = h("form", { class: "form panel sign-in", method: "post", "data-testid": "sign-in-form", onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    button.disabled = true;
    try {
      const answer = await signIn(field.value.trim());
      field.value = "";
      if (answer.role === "worker") {
        await signOut();
        say("That is a worker token: it may only connect workers. Sign in with a read, client or admin token.");
        return;
      }
      done();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) say("That token is unknown or revoked. Check it, or ask an admin for a new one (rota tokens create).");
      else say(`Could not sign in: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  } },
    h("label", { for: "token" }, "Token"), field,
    h("span"), problem,
    h("span"), h("div", { class: "toolbar" }, button, session.anonymous ? h("button", { type: "button", "data-testid": "no-token",
      title: "This server lets anyone on this machine in without a token", onclick: async () => { await signOut(); done(); } },
    "Continue without a token") : null));
  container.replaceChildren(h("h1", {}, "Sign in"),
    ...(note ? [h("div", { class: "notice", "data-testid": "sign-in-note" }, note)] : []),
    h("p", { class: "muted" }, "This server wants a token. Paste one that an admin made with ",
      h("code", {}, "rota tokens create"), ": a read token shows everything, a client token may also change jobs and schedules."),
    form);
  field.focus();
}
