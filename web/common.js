// What urbis's pages share: talking to the API of the server that serves them, and writing text
// into the page safely.

/** The server's root URL (the pages are served at /map/, /analysis/, … on the same server). */
export const apiRoot = new URL("/", window.location.href).href.replace(/\/$/, "");

/** GET `path` (from the server's root) as JSON; throws an Error with the API's message. */
export async function getJson(path, options = {}) {
  const response = await fetch(apiRoot + path, { headers: { Accept: "application/json" }, ...options });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.message) message = body.message;
    } catch {
      // Not JSON: keep the status line.
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

/** Text made safe to put inside HTML. */
export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A number with at most `digits` decimals in the reader's locale, or an empty string. */
export function formatNumber(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** Shows `text` in the page's status line (`#status`), announced as an alert when `isError`. */
export function status(text, isError = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
}

/**
 * The city's map in `#map`: the cadastral style over Cambridge at `zoom`, zoom buttons, what it
 * fails to load said in the status line, and `window.urbisMap` for the end-to-end tests.
 * `maplibregl` is the page's MapLibre module (passed in: the pages without a map never load it).
 */
export function cityMap(maplibregl, zoom) {
  const map = new maplibregl.Map({
    container: "map",
    style: `${apiRoot}/styles/cadastral.json`,
    center: [-71.11, 42.375],
    zoom,
    attributionControl: { compact: true },
  });
  window.urbisMap = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.on("error", (e) => {
    const message = e && e.error && e.error.message ? e.error.message : "an error in the map";
    status(`The map could not load something: ${message}`, true);
  });
  return map;
}
