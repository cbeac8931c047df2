// What the staff pages share (reviewer.html, admin.html): the session from POST /auth/login, kept
// for this tab in sessionStorage and sent as a bearer token, calls to the API with it (a 401
// ends the session), and the wiring of the sign-in form and the sign-out button.

import { apiRoot } from "./common.js";

export const SESSION_KEY = "urbis.staff.session";

let signedOut = () => {};

/** What the page does when a call finds the session gone (expired, account disabled). */
export function onSignedOut(handler) {
  signedOut = handler;
}

/** The session of this tab, if one is kept and not expired. */
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (s && s.token && (!s.expires_at || Date.parse(s.expires_at) > Date.now())) return s;
  } catch {
    // A damaged entry: signed out.
  }
  return null;
}

export function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

export class ApiError extends Error {
  constructor(message, statusCode, body) {
    super(message);
    this.status = statusCode;
    this.body = body;
  }
}

/** A call to the API with the session's token; the API's message in the error it throws. */
export async function api(path, { method = "GET", body } = {}) {
  const s = session();
  const headers = { Accept: "application/json" };
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(apiRoot + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON.
  }
  if (!response.ok) {
    const message = (data && data.message) || `${response.status} ${response.statusText}`;
    if (response.status === 401 && s) {
      forgetSession();
      signedOut(`Signed out: ${message}`);
    }
    throw new ApiError(message, response.status, data);
  }
  return data;
}

/** Signs in with a user name and password; keeps the session for this tab. */
export async function signIn(user, password) {
  const answer = await api("/auth/login", { method: "POST", body: { user, password } });
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(answer));
  return answer;
}

/**
 * Wires a staff page's sign-in form (`#login-form`, `#login-user`, `#login-password`) and its
 * sign-out button (`#logout`). `status(text, isError)` tells the reader, `route()` shows the view
 * for the session, `signedIn()` runs after a sign-in (default: `route`), `signingOut()` before the
 * session is forgotten.
 */
export function wireSession({ status, route, signedIn = route, signingOut = () => {} }) {
  const $ = (id) => document.getElementById(id);
  onSignedOut((message) => {
    route();
    status(message, true);
  });
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    status("Signing in…");
    try {
      await signIn($("login-user").value.trim(), $("login-password").value);
      $("login-password").value = "";
      status("");
      signedIn();
    } catch (err) {
      status(`Could not sign in: ${err.message}`, true);
      $("login-password").focus();
    }
  });
  $("logout").addEventListener("click", () => {
    signingOut();
    forgetSession();
    route();
    status("Signed out.");
  });
}
