// The REST API, as every other client sees it. The browser sends the session cookie itself.

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

let onUnauthenticated = () => {};

/** Call `handler(error)` whenever an API call answers 401 (the session is gone or never was). */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

/** Call the API; throws ApiError with the server's message. With `quiet`, a 401 is only thrown
 * (the session calls use it: their 401 is an answer, not a lost session). */
export async function api(method, path, body, { quiet = false } = {}) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || {};
    const failure = new ApiError(response.status, error.type || "HTTPError",
      error.message || `${method} ${path} answered ${response.status}`);
    if (response.status === 401 && !quiet) onUnauthenticated(failure);
    throw failure;
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
