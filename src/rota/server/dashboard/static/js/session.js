// Who the dashboard is signed in as, and what that role may do (as rota.auth.access rules).
// The token itself never lives here: the server keeps it in an HttpOnly cookie.
import { api } from "./api.js";

const GRANTS = { admin: ["read", "write", "admin"], client: ["read", "write"], read: ["read"], worker: [] };
const WHAT = { write: "change jobs, schedules or reminders", admin: "drain workers" };

/** The last answer of GET /api/v1/session: {signed_in, anonymous, role, token_id, name}. */
export const session = { signed_in: false, anonymous: false, role: null, token_id: null, name: null };

/** Ask the server who this browser is signed in as; keep and return the answer. */
export async function check() {
  return Object.assign(session, await api("GET", "/session", undefined, { quiet: true }));
}

/** Sign in with a token (kept by the server as an HttpOnly cookie); throws ApiError on a wrong one. */
export async function signIn(token) {
  return Object.assign(session, await api("POST", "/session", { token }, { quiet: true }));
}

/** Forget the session cookie. */
export async function signOut() {
  await api("DELETE", "/session", undefined, { quiet: true });
  Object.assign(session, { signed_in: false, role: null, token_id: null, name: null });
}

/** Tell whether the signed-in role may make requests that need `access` ("write", "admin"). */
export function may(access) {
  return session.signed_in && (GRANTS[session.role] || []).includes(access);
}

/** Why a control is off for this role ("the role read may not ..."), or null if it is not. */
export function refusal(access) {
  if (may(access)) return null;
  const needed = access === "admin" ? "admin" : "client or admin";
  return `Your token's role (${session.role || "none"}) may not ${WHAT[access] || access}; that needs the role ${needed}.`;
}
