// The reviewers' pages: sign in (staff.js: POST /auth/login, the token kept for this tab in
// sessionStorage and sent as a bearer token), the queue of open dossiers most urgent first (GET /dossiers) with
// filters (a reviewer's own centres by default), and a dossier (GET /dossiers/{id}): its parcels
// on the map, the parcel check, the history with whose days they were, and a button for each move
// the stage machine allows (POST /dossiers/{id}/transitions; a payment request with its amount,
// the procedure's fee by default). The view is in the URL's hash:
// `#queue?…filters` or `#dossier=ID`.

import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";
import { apiRoot, escapeHtml, formatNumber } from "./common.js";
import { api, session, wireSession } from "./staff.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 25;
const STATUS_WORDS = { overdue: "Overdue", at_risk: "At risk", on_time: "On time" };
const STAGE_WORDS = {
  received: "Received",
  in_review: "In review",
  supplement_requested: "Supplement requested",
  supplement_received: "Supplement received",
  payment_requested: "Payment requested",
  payment_received: "Payment received",
  decided: "Decided",
  delivered: "Result delivered",
  withdrawn: "Withdrawn",
};
const OWNER_WORDS = { city: "the city's", applicant: "the applicant's", stopped: "clock stopped" };
const stageWord = (s) => STAGE_WORDS[s] || s || "—";

function status(text, isError = false, target = "status") {
  const el = $(target);
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
}

// --- The session (staff.js) ------------------------------------------------------------------
wireSession({
  status: (text, isError) => status(text, isError),
  route: () => route(),
  signedIn: () => {
    if (!location.hash || location.hash === "#login") location.hash = "#queue";
    else route();
  },
  signingOut: () => {
    location.hash = "";
  },
});

// --- Views -----------------------------------------------------------------------------------
function show(view) {
  for (const id of ["login-view", "queue-view", "dossier-view"]) $(id).hidden = id !== view;
  const s = session();
  $("who").hidden = !s;
  if (s) {
    const centres = s.centres && s.centres.length ? ` · centres ${s.centres.join(", ")}` : "";
    $("who-text").textContent = `${s.user} (${s.role}${centres})`;
  }
}

function hashParts() {
  const raw = location.hash.replace(/^#/, "");
  const [view, query = ""] = raw.split("?");
  return { view, params: new URLSearchParams(query) };
}

async function route() {
  if (!session()) {
    show("login-view");
    $("login-user").focus();
    return;
  }
  const { view, params } = hashParts();
  if (view.startsWith("dossier=")) {
    show("dossier-view");
    await openDossier(decodeURIComponent(view.slice("dossier=".length)));
  } else {
    show("queue-view");
    await showQueue(params);
  }
}
window.addEventListener("hashchange", route);

// --- The queue -------------------------------------------------------------------------------
let filtersLoaded = false;
let lastQueueHash = "#queue";

async function loadFilters() {
  if (filtersLoaded) return;
  const s = session();
  const [centres, procedures] = await Promise.all([
    api("/collections/service_centres/items?limit=1000"),
    api("/procedures"),
  ]);
  const mine = new Set(s.centres || []);
  const centreSelect = $("filter-centre");
  const options = [];
  if (mine.size) options.push(`<option value="${escapeHtml([...mine].join(","))}">My centres</option>`);
  options.push(`<option value="">All centres</option>`);
  const listed = centres.features
    .filter((f) => f.properties.one_stop === true || f.properties.one_stop === 1 || mine.has(String(f.id)))
    .sort((a, b) => String(a.properties.name || a.id).localeCompare(String(b.properties.name || b.id)));
  for (const f of listed) options.push(`<option value="${escapeHtml(f.id)}">${escapeHtml(f.properties.name || f.id)}</option>`);
  centreSelect.innerHTML = options.join("");
  const procedureSelect = $("filter-procedure");
  for (const p of procedures.procedures.sort((a, b) => a.name.localeCompare(b.name))) {
    const o = document.createElement("option");
    o.value = p.code;
    o.textContent = `${p.name} (${p.processing_days} days)`;
    procedureSelect.append(o);
  }
  filtersLoaded = true;
}

function chip(colour, statusName) {
  const word = STATUS_WORDS[statusName] || "No clock";
  return `<span class="chip ${escapeHtml(colour || "none")}">${escapeHtml(word)}</span>`;
}

const dateOf = (iso) => (iso ? String(iso).slice(0, 10) : "—");
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—");

async function showQueue(params) {
  try {
    await loadFilters();
  } catch (err) {
    status(`The filters could not be loaded: ${err.message}`, true);
    return;
  }
  const s = session();
  // A reviewer sees their own centres unless they chose otherwise.
  if (!params.has("centre") && s.centres && s.centres.length) params.set("centre", s.centres.join(","));
  for (const [id, key] of [["filter-centre", "centre"], ["filter-procedure", "procedure"], ["filter-status", "status"], ["filter-stage", "stage"]]) {
    const select = $(id);
    const value = params.get(key) || "";
    if (![...select.options].some((o) => o.value === value)) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = value;
      select.append(o);
    }
    select.value = value;
  }
  const query = new URLSearchParams();
  for (const [k, v] of params) if (v) query.set(k, v);
  if (!query.has("limit")) query.set("limit", String(PAGE_SIZE));
  lastQueueHash = `#queue?${params.toString()}`;
  status("Loading the queue…");
  let q;
  try {
    q = await api(`/dossiers?${query}`);
  } catch (err) {
    status(`The queue could not be loaded: ${err.message}`, true);
    return;
  }
  const rows = q.dossiers.map(
    (d) => `<tr data-id="${escapeHtml(d.id)}" data-colour="${escapeHtml(d.colour || "none")}">
      <td>${chip(d.colour, d.status)}${d.paused ? ' <span class="muted">(waiting for the applicant)</span>' : ""}</td>
      <td>${escapeHtml(dateOf(d.due_date))}</td>
      <td class="number">${d.days_left === null || d.days_left === undefined ? "—" : escapeHtml(d.days_left)}</td>
      <td><a href="#dossier=${encodeURIComponent(d.id)}">${escapeHtml(d.tracking_code)}</a></td>
      <td>${escapeHtml(d.procedure_name || d.procedure_code)}</td>
      <td>${escapeHtml(stageWord(d.stage))}</td>
      <td>${escapeHtml(d.centre_name || d.centre_id || "—")}</td>
      <td>${escapeHtml((d.parcel_codes || []).join(", "))}</td></tr>`,
  );
  $("queue-table").querySelector("tbody").innerHTML = rows.join("") || `<tr><td colspan="8">No open dossier matches.</td></tr>`;
  const first = q.total ? q.offset + 1 : 0;
  $("queue-summary").textContent = `${q.total} open dossier${q.total === 1 ? "" : "s"}; ${first}–${q.offset + q.returned} shown, most urgent first (as of ${when(q.at)}).`;
  const link = (rel) => q.links.find((l) => l.rel === rel);
  for (const [id, rel] of [["next-page", "next"], ["prev-page", "prev"]]) {
    const l = link(rel);
    $(id).hidden = !l;
    $(id).dataset.offset = l ? new URL(l.href).searchParams.get("offset") : "";
  }
  status("");
}

function filterParams(offset) {
  const p = new URLSearchParams();
  for (const [id, key] of [["filter-centre", "centre"], ["filter-procedure", "procedure"], ["filter-status", "status"], ["filter-stage", "stage"]]) {
    p.set(key, $(id).value);
  }
  if (offset) p.set("offset", offset);
  return p;
}

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = `#queue?${filterParams()}`;
});
for (const id of ["next-page", "prev-page"]) {
  $(id).addEventListener("click", () => {
    location.hash = `#queue?${filterParams($(id).dataset.offset)}`;
    $("queue-title").scrollIntoView();
  });
}
$("back").addEventListener("click", (e) => {
  e.preventDefault();
  location.hash = lastQueueHash;
});

// --- The dossier -----------------------------------------------------------------------------
let map = null;
let mapReady = null;
const EMPTY = { type: "FeatureCollection", features: [] };

function ensureMap() {
  if (map) return mapReady;
  map = new maplibregl.Map({
    container: "dossier-map",
    style: `${apiRoot}/styles/cadastral.json`,
    center: [-71.11, 42.375],
    zoom: 13,
    attributionControl: { compact: true },
  });
  window.urbisMap = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.on("error", (e) => {
    const message = e && e.error && e.error.message ? e.error.message : "an error in the map";
    status(`The map could not load something: ${message}`, true);
  });
  mapReady = new Promise((resolve) => map.once("load", resolve)).then(() => {
    map.addSource("dossier-parcels", { type: "geojson", data: EMPTY });
    map.addLayer({ id: "dossier-parcels-fill", type: "fill", source: "dossier-parcels", paint: { "fill-color": "#0b5cad", "fill-opacity": 0.25 } });
    map.addLayer({ id: "dossier-parcels", type: "line", source: "dossier-parcels", paint: { "line-color": "#0b5cad", "line-width": 3 } });
    map.addSource("dossier-site", { type: "geojson", data: EMPTY });
    map.addLayer({
      id: "dossier-site",
      type: "circle",
      source: "dossier-site",
      filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 6, "circle-color": "#f0a30a", "circle-stroke-color": "#1d1d1b", "circle-stroke-width": 2 },
    });
  });
  return mapReady;
}

function extend(bounds, coords) {
  if (typeof coords[0] === "number") bounds.extend(coords);
  else for (const c of coords) extend(bounds, c);
}

async function drawParcels(d) {
  await ensureMap();
  map.resize();
  const codes = d.dossier.parcel_codes || [];
  const found = await Promise.all(
    codes.map((c) => api(`/collections/parcels/items?code=${encodeURIComponent(c)}&limit=20`).then((fc) => fc.features).catch(() => [])),
  );
  const parcels = { type: "FeatureCollection", features: found.flat().map((f) => ({ ...f, properties: { code: f.properties.code } })) };
  map.getSource("dossier-parcels").setData(parcels);
  map.getSource("dossier-site").setData(d.site ? { type: "Feature", geometry: d.site, properties: {} } : EMPTY);
  const bounds = new maplibregl.LngLatBounds();
  for (const f of parcels.features) if (f.geometry) extend(bounds, f.geometry.coordinates);
  if (d.site) extend(bounds, d.site.coordinates);
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 60, maxZoom: 18, duration: 0 });
  return parcels.features.length;
}

function fact(term, value) {
  return `<dt>${escapeHtml(term)}</dt><dd>${value}</dd>`;
}

function renderFacts(d) {
  const x = d.dossier;
  const c = d.clock;
  const applicant = x.applicant && typeof x.applicant === "object"
    ? Object.entries(x.applicant).map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(typeof v === "object" ? JSON.stringify(v) : v)}`).join("<br>")
    : "—";
  $("facts").innerHTML = [
    fact("Status", c ? `${chip(statusColour(c.status), c.status)}${c.paused ? " waiting for the applicant" : ""}` : "No clock"),
    fact("Due", c ? `${escapeHtml(c.due_date)} (${escapeHtml(c.days_left)} working days left of ${escapeHtml(c.processing_days)})` : escapeHtml(dateOf(x.due_at))),
    ...(d.payment_due ? [fact("Payment due", `${escapeHtml(formatNumber(d.payment_due.amount, 2))}, asked ${escapeHtml(when(d.payment_due.requested_at))}`)] : []),
    fact("Days used", c ? `${escapeHtml(c.city_days)} the city's, ${escapeHtml(c.applicant_days)} the applicant's` : "—"),
    fact("Stage", `<span id="dossier-stage">${escapeHtml(stageWord(x.stage))}</span>${x.decision ? ` (${escapeHtml(x.decision.replaceAll("_", " "))})` : ""}`),
    fact("Procedure", escapeHtml(d.procedure ? `${d.procedure.name} (${d.procedure.code})` : x.procedure_code)),
    fact("Parcels", escapeHtml((x.parcel_codes || []).join(", ") || "—")),
    fact("Address", escapeHtml(x.address || "—")),
    fact("Proposal", escapeHtml([x.proposed_use, x.proposed_height_m != null ? `${formatNumber(x.proposed_height_m)} m high` : "", x.proposed_floor_area_m2 != null ? `${formatNumber(x.proposed_floor_area_m2, 0)} m² floor area` : ""].filter(Boolean).join(", ") || "—")),
    fact("Description", escapeHtml(x.description || "—")),
    fact("Received", escapeHtml(when(x.received_at))),
    fact("Channel", escapeHtml(x.channel || "—")),
    fact("Centre", escapeHtml(x.centre_id || "—")),
    fact("Applicant", applicant),
    fact("Public page", `<a href="track.html#${encodeURIComponent(x.tracking_code)}">${escapeHtml(x.tracking_code)}</a>`),
  ].join("");
}

const statusColour = (s) => ({ overdue: "red", at_risk: "yellow", on_time: "green" })[s] || "none";

function renderHistory(d) {
  const stages = (d.stages || []).map(
    (s) => `<tr><td>${escapeHtml(stageWord(s.stage))}</td><td>${escapeHtml(when(s.from))}</td><td>${escapeHtml(s.until ? when(s.until) : "now")}</td>
      <td class="number">${escapeHtml(s.working_days)}</td><td>${escapeHtml(OWNER_WORDS[s.owner] || s.owner)}</td></tr>`,
  );
  $("stages-table").querySelector("tbody").innerHTML = stages.join("") || `<tr><td colspan="5">No clock.</td></tr>`;
  const events = (d.history || []).map(
    (e) => `<tr><td class="number">${escapeHtml(e.seq)}</td><td>${escapeHtml(when(e.at))}</td><td>${escapeHtml(e.kind.replaceAll("_", " "))}</td>
      <td>${escapeHtml(stageWord(e.stage))}</td><td>${escapeHtml(e.actor || "—")}</td><td>${escapeHtml(e.note || "")}</td></tr>`,
  );
  $("events-table").querySelector("tbody").innerHTML = events.join("");
}

function renderTransitions(d) {
  const allowed = d.allowed_transitions || [];
  $("decision-box").hidden = !allowed.includes("decided");
  $("amount-box").hidden = !allowed.includes("payment_requested");
  $("transition-amount").placeholder = d.procedure && d.procedure.fee != null ? String(d.procedure.fee) : "";
  $("transitions").innerHTML = allowed.length
    ? allowed.map((s) => `<button type="button" data-to="${escapeHtml(s)}"${s === "withdrawn" ? ' class="secondary"' : ""}>${escapeHtml(s === "decided" ? "Record the decision" : s === "payment_requested" ? "Ask the applicant to pay" : `Move to “${stageWord(s)}”`)}</button>`).join("")
    : `<p class="muted">No further move: this dossier is ${escapeHtml(stageWord(d.dossier.stage).toLowerCase())}.</p>`;
}

function list(items) {
  return items.length ? `<ul>${items.join("")}</ul>` : `<p class="muted">None.</p>`;
}

function renderCheck(check) {
  const box = $("check");
  if (!check) {
    box.innerHTML = `<p class="muted">Not checked yet.</p>`;
    $("run-check").textContent = "Run the parcel check";
    return;
  }
  $("run-check").textContent = "Run the parcel check again";
  const r = check.result || {};
  const pct = (v) => `${formatNumber(100 * Number(v), 0)} %`;
  const districts = (r.districts || []).map(
    (z) => `<li>${escapeHtml(z.code)}${z.name ? ` ${escapeHtml(z.name)}` : ""}: ${pct(z.share)} of the site${z.use_status ? `; the use is ${escapeHtml(String(z.use_status).replaceAll("_", " "))}` : ""}${z.article ? ` (${escapeHtml(z.article)})` : ""}</li>`,
  );
  const limits = (r.limits || []).map(
    (l) => `<li class="${l.complies ? "" : "fails"}">${escapeHtml(l.limit.replaceAll("_", " "))}: ${formatNumber(l.proposed, 2)} proposed, ${formatNumber(l.allowed, 2)} allowed: ${l.complies ? "complies" : "does not comply"}${l.source && l.source.article ? ` (${escapeHtml(l.source.article)})` : ""}</li>`,
  );
  const overlays = (r.overlays || []).map((o) => `<li>${escapeHtml(o.name)}${o.kind ? ` (${escapeHtml(o.kind)})` : ""}: ${pct(o.share)} of the site</li>`);
  const zones = (r.protection_zones || []).map(
    (u) => `<li>${escapeHtml(u.network)} ${escapeHtml(u.kind || "")} ${escapeHtml(u.utility)}: ${formatNumber(u.distance_m, 1)} m away, protection ${formatNumber(u.protection_m, 1)} m</li>`,
  );
  const others = (r.open_dossiers || []).map(
    (o) => `<li>${escapeHtml(o.tracking_code)} (${escapeHtml(o.procedure_code)}, ${escapeHtml(stageWord(o.stage))})${o.shared_parcels && o.shared_parcels.length ? `: parcels ${escapeHtml(o.shared_parcels.join(", "))}` : ""}</li>`,
  );
  const issues = (r.issues || []).map((i) => `<li>${escapeHtml(i)}</li>`);
  box.innerHTML = `<div class="check" id="check-result" data-issues="${issues.length}">
    <p class="muted">Checked ${escapeHtml(when(check.checked_at))}.${r.use_status ? ` The proposed use is <strong>${escapeHtml(String(r.use_status).replaceAll("_", " "))}</strong>.` : ""}</p>
    <h4>Issues</h4>${issues.length ? `<ul class="issues">${issues.join("")}</ul>` : `<p>No issue found.</p>`}
    <h4>Zoning districts</h4>${list(districts)}
    <h4>Limits</h4>${list(limits)}
    <h4>Overlays</h4>${list(overlays)}
    <h4>Utility protection zones</h4>${list(zones)}
    <h4>Other open dossiers on these parcels</h4>${list(others)}</div>`;
}

let current = null;

async function openDossier(id) {
  status("Loading the dossier…");
  $("transition-status").textContent = "";
  let d;
  try {
    d = await api(`/dossiers/${encodeURIComponent(id)}`);
  } catch (err) {
    status(`The dossier could not be loaded: ${err.message}`, true);
    return;
  }
  current = d;
  $("dossier-title").textContent = `Dossier ${d.dossier.tracking_code}`;
  document.title = `Dossier ${d.dossier.tracking_code} · urbis`;
  renderFacts(d);
  renderHistory(d);
  renderTransitions(d);
  // The stored check comes with the dossier (the same as GET /dossiers/{id}/check).
  renderCheck(d.parcel_check || null);
  $("dossier-title").focus();
  try {
    const n = await drawParcels(d);
    status(n ? "" : "None of the dossier's parcels is on the map.");
  } catch (err) {
    status(`The parcels could not be drawn: ${err.message}`, true);
  }
}

$("run-check").addEventListener("click", async () => {
  if (!current) return;
  const button = $("run-check");
  button.disabled = true;
  status("Running the parcel check…");
  try {
    const check = await api(`/dossiers/${encodeURIComponent(current.id)}/check`, { method: "POST" });
    renderCheck(check);
    status("The parcel check was run and stored with the dossier.");
    const d = await api(`/dossiers/${encodeURIComponent(current.id)}`);
    current = d;
    renderHistory(d);
  } catch (err) {
    status(`The parcel check failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
});

$("transitions").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-to]");
  if (!button || !current) return;
  const to = button.dataset.to;
  const body = { to };
  const note = $("transition-note").value.trim();
  if (note) body.note = note;
  if (to === "decided") body.decision = $("transition-decision").value;
  const amount = $("transition-amount").value.trim();
  if (to === "payment_requested" && amount) body.amount = Number(amount);
  const s = session();
  if (s && s.user) body.actor = s.user;
  for (const b of $("transitions").querySelectorAll("button")) b.disabled = true;
  status("Saving…", false, "transition-status");
  try {
    const r = await api(`/dossiers/${encodeURIComponent(current.id)}/transitions`, { method: "POST", body });
    $("transition-note").value = "";
    $("transition-amount").value = "";
    await openDossier(current.id);
    status(`Moved to “${stageWord(r.stage)}”.`, false, "transition-status");
  } catch (err) {
    // A 409 names the current stage and the allowed ones: show them, and the dossier as it is now.
    status(`Not moved: ${err.message}`, true, "transition-status");
    if (err.status === 409) {
      const d = await api(`/dossiers/${encodeURIComponent(current.id)}`).catch(() => null);
      if (d) {
        current = d;
        renderFacts(d);
        renderHistory(d);
        renderTransitions(d);
      }
    } else {
      for (const b of $("transitions").querySelectorAll("button")) b.disabled = false;
    }
  }
});

route();
