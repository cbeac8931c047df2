// The public zoning map: urbis's own styles and vector tiles in MapLibre GL JS, a switch between
// the maps (/styles), layer groups and a legend read from each style's metadata, search by parcel
// code or address (OGC API items), the parcel report on click, and the view in the URL's hash.

import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";
import { apiRoot, escapeHtml, formatNumber, getJson } from "./common.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_STYLE = "zoning";

// --- The URL's hash: `map=zoom/lat/lon` (MapLibre's), `style=`, `hide=` groups, `parcel=` -------
function hashParams() {
  return new URLSearchParams(window.location.hash.replace(/^#/, ""));
}

function setHashParam(key, value) {
  const params = hashParams();
  if (value === null || value === "") params.delete(key);
  else params.set(key, value);
  // `map=` keeps its slashes unescaped, as MapLibre writes and reads it.
  const text = params.toString().replace(/%2F/g, "/");
  window.history.replaceState(window.history.state, "", `${window.location.pathname}${window.location.search}#${text}`);
  updatePermalink();
}

function updatePermalink() {
  $("permalink").href = window.location.href;
}

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// --- The map ---------------------------------------------------------------------------------
const state = {
  styles: [],
  styleId: hashParams().get("style") || DEFAULT_STYLE,
  hidden: new Set((hashParams().get("hide") || "").split(",").filter(Boolean)),
  metadata: {},
};

const map = new maplibregl.Map({
  container: "map",
  style: `${apiRoot}/styles/${encodeURIComponent(state.styleId)}.json`,
  center: [-71.11, 42.375],
  zoom: 13,
  hash: "map",
  attributionControl: { compact: true },
});
// The end-to-end test reads the map through this.
window.urbisMap = map;
map.addControl(new maplibregl.NavigationControl(), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
map.on("moveend", updatePermalink);
map.on("error", (e) => {
  const message = e && e.error && e.error.message ? e.error.message : "an error in the map";
  status(`The map could not load something: ${message}`, true);
});

map.on("style.load", () => {
  state.metadata = map.getStyle().metadata || {};
  $("map-title").textContent = `${map.getStyle().name || "Map"} map`;
  document.title = `${map.getStyle().name || "Map"} map · urbis`;
  buildGroups();
  buildLegend();
  addSelectionLayer();
});

// --- Which map: one radio button per style of /styles ----------------------------------------
async function loadStyleList() {
  try {
    const list = await getJson("/styles");
    state.styles = list.styles;
  } catch (e) {
    status(`The list of maps could not be read: ${e.message}`, true);
    return;
  }
  const box = $("styles");
  for (const s of state.styles) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="radio" name="style" value="${escapeHtml(s.id)}"> ${escapeHtml(s.title || s.id)}`;
    const input = label.querySelector("input");
    input.checked = s.id === state.styleId;
    input.addEventListener("change", () => switchStyle(s.id));
    box.append(label);
  }
}

function switchStyle(id) {
  state.styleId = id;
  setHashParam("style", id === DEFAULT_STYLE ? null : id);
  map.setStyle(`${apiRoot}/styles/${encodeURIComponent(id)}.json`);
}

// --- Layer groups (metadata "urbis:groups"): a check box each --------------------------------
function buildGroups() {
  const box = $("groups");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const group of state.metadata["urbis:groups"] || []) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${escapeHtml(group.id)}"> ${escapeHtml(group.title)}`;
    const input = label.querySelector("input");
    input.checked = !state.hidden.has(group.id);
    input.addEventListener("change", () => {
      if (input.checked) state.hidden.delete(group.id);
      else state.hidden.add(group.id);
      applyGroup(group, input.checked);
      setHashParam("hide", [...state.hidden].join(","));
    });
    applyGroup(group, input.checked);
    box.append(label);
  }
}

function applyGroup(group, visible) {
  for (const id of group.layers) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
}

// --- Legend (metadata "urbis:legend"): the colours of a `match` paint expression --------------
function buildLegend() {
  const box = $("legend");
  box.innerHTML = "";
  for (const entry of state.metadata["urbis:legend"] || []) {
    const layer = map.getStyle().layers.find((l) => l.id === entry.layer);
    const expression = layer && layer.paint && layer.paint[entry.property];
    if (!Array.isArray(expression) || expression[0] !== "match") continue;
    const outline = entry.property === "line-color";
    const items = [];
    for (let i = 2; i + 1 < expression.length; i += 2) {
      const value = expression[i];
      const colour = expression[i + 1];
      const label = (entry.labels && entry.labels[value]) || value;
      const style = outline ? `border-color:${colour}` : `background:${colour}`;
      items.push(
        `<li><span class="swatch${outline ? " outline" : ""}" style="${escapeHtml(style)}" aria-hidden="true"></span>${escapeHtml(label)}</li>`,
      );
    }
    const group = document.createElement("div");
    group.className = "legend-group";
    group.innerHTML = `<h3>${escapeHtml(entry.title)}</h3><ul>${items.join("")}</ul>`;
    box.append(group);
  }
}

// --- The selected parcel, outlined ----------------------------------------------------------
let selected = null;
function addSelectionLayer() {
  if (map.getSource("selection")) return;
  map.addSource("selection", { type: "geojson", data: selected || { type: "FeatureCollection", features: [] } });
  map.addLayer({
    id: "selection",
    type: "line",
    source: "selection",
    paint: { "line-color": "#0b5cad", "line-width": 3 },
  });
}

function select(feature) {
  selected = feature && feature.geometry ? { type: "Feature", geometry: feature.geometry, properties: {} } : null;
  const source = map.getSource("selection");
  if (source) source.setData(selected || { type: "FeatureCollection", features: [] });
}

// --- What is at a point: the parcel's report, or the tile attributes of what is there -------
function layersThatExist(ids) {
  return ids.filter((id) => map.getLayer(id));
}

function showAt(point) {
  // A point drawn over a parcel (a dossier, a hydrant) is what a click on it means.
  const pointLayers = layersThatExist(state.metadata["urbis:queryable"] || []).filter((id) => map.getLayer(id).type === "circle");
  const points = pointLayers.length ? map.queryRenderedFeatures(point, { layers: pointLayers }) : [];
  if (points.length) {
    showFeatures(points);
    return;
  }
  const parcelLayer = state.metadata["urbis:parcels"];
  const parcels = parcelLayer && map.getLayer(parcelLayer) ? map.queryRenderedFeatures(point, { layers: [parcelLayer] }) : [];
  if (parcels.length) {
    loadReport(parcels[0].properties.id);
    return;
  }
  const queryable = layersThatExist(state.metadata["urbis:queryable"] || []);
  const found = queryable.length ? map.queryRenderedFeatures(point, { layers: queryable }) : [];
  if (!found.length) {
    $("report-title").textContent = "Nothing here";
    $("report-body").innerHTML = `<p class="muted">No parcel here at this zoom. Zoom in to pick a parcel.</p>`;
    return;
  }
  showFeatures(found);
}

/** The tile attributes of what was clicked (the tiles carry more of them the closer the zoom). */
function showFeatures(found) {
  $("report-title").textContent = "Here";
  $("report-body").innerHTML = found
    .slice(0, 5)
    .map((f) => `<div class="report"><h3>${escapeHtml(f.sourceLayer.replace(/_/g, " "))}</h3>${definitionList(f.properties)}</div>`)
    .join("");
}

function definitionList(properties) {
  const rows = Object.entries(properties)
    .filter(([k, v]) => k !== "id" && v !== null && v !== "")
    .map(([k, v]) => `<dt>${escapeHtml(k.replace(/_/g, " "))}</dt><dd>${escapeHtml(v)}</dd>`);
  return `<dl>${rows.join("")}</dl>`;
}

async function loadReport(id) {
  status("Loading the parcel's report…");
  let report;
  try {
    report = await getJson(`/parcels/${encodeURIComponent(id)}/report`);
  } catch (e) {
    status(`The parcel's report could not be loaded: ${e.message}`, true);
    return;
  }
  status("");
  setHashParam("parcel", id);
  select(report.parcel);
  renderReport(report);
}

function renderReport(report) {
  const p = report.parcel.properties || {};
  $("report-title").textContent = `Parcel ${p.code || report.parcel.id}`;
  const zones = report.zoning_districts.map((z) => {
    const d = z.properties || {};
    const limits = [
      d.max_height_m != null ? `height ≤ ${formatNumber(d.max_height_m)} m` : "",
      d.max_far != null ? `FAR ≤ ${formatNumber(d.max_far, 2)}` : "",
    ].filter(Boolean);
    return `<li><strong class="zone-code">${escapeHtml(d.code)}</strong> ${escapeHtml(d.name || "")}
      (${escapeHtml(d.category || "")}, ${formatNumber(z.share * 100, 0)} % of the parcel)${limits.length ? `: ${escapeHtml(limits.join(", "))}` : ""}</li>`;
  });
  const overlays = report.zoning_overlays.map((o) => `<li>${escapeHtml(o.properties.name)} (${escapeHtml(o.properties.kind || "")})</li>`);
  const roads = [...new Set(report.fronts_roads.map((r) => r.properties.name).filter(Boolean))];
  const permits = report.permits.map(
    (d) => `<li>${escapeHtml(d.properties.tracking_code)}: ${escapeHtml(d.properties.stage)}${d.open ? " (open)" : ""}</li>`,
  );
  const centre = report.nearest_service_centre;
  $("report-body").innerHTML = `<div class="report">
    <dl>
      <dt>Code</dt><dd>${escapeHtml(p.code)}</dd>
      <dt>Address</dt><dd>${escapeHtml(p.address || "—")}</dd>
      <dt>Area</dt><dd>${formatNumber(report.area_m2, 0)} m²</dd>
      <dt>Land use</dt><dd>${escapeHtml(p.land_use || "—")}</dd>
    </dl>
    <h3>Zoning</h3>
    ${zones.length ? `<ul id="report-zones">${zones.join("")}</ul>` : `<p>No zoning district covers this parcel.</p>`}
    <h3>Overlay districts</h3>
    ${overlays.length ? `<ul>${overlays.join("")}</ul>` : "<p>None.</p>"}
    <h3>Streets it fronts</h3><p>${roads.length ? escapeHtml(roads.join(", ")) : "None within reach."}</p>
    <h3>Permits</h3>${permits.length ? `<ul>${permits.join("")}</ul>` : "<p>None.</p>"}
    ${centre ? `<h3>Nearest service centre</h3><p>${escapeHtml(centre.properties.name)}, ${formatNumber(centre.distance_m, 0)} m</p>` : ""}
  </div>`;
}

map.on("click", (e) => showAt(e.point));
map.on("mousemove", (e) => {
  const parcelLayer = state.metadata["urbis:parcels"];
  const over = parcelLayer && map.getLayer(parcelLayer) && map.queryRenderedFeatures(e.point, { layers: [parcelLayer] }).length;
  map.getCanvas().style.cursor = over ? "pointer" : "";
});
$("here").addEventListener("click", () => showAt(map.project(map.getCenter())));

// --- Search: a parcel code (exact), else an address (contains) ------------------------------
function bounds(geometry) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b[0] = Math.min(b[0], c[0]);
      b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]);
      b[3] = Math.max(b[3], c[1]);
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return [
    [b[0], b[1]],
    [b[2], b[3]],
  ];
}

function goTo(feature) {
  if (feature.geometry) map.fitBounds(bounds(feature.geometry), { padding: 60, maxZoom: 18, duration: 600 });
  loadReport(feature.id);
}

async function search(text) {
  const q = text.trim();
  if (!q) return;
  status(`Searching for “${q}”…`);
  $("results").hidden = true;
  const properties = "properties=code,address";
  let features = [];
  try {
    features = (await getJson(`/collections/parcels/items?code=${encodeURIComponent(q)}&limit=20&${properties}`)).features;
    if (!features.length) {
      // Any case; CQL2 LIKE's wildcards in the text are taken as spaces.
      const words = q.replace(/[%_]/g, " ").replace(/'/g, "''");
      const filter = `CASEI(address) LIKE CASEI('%${words}%')`;
      features = (await getJson(`/collections/parcels/items?filter=${encodeURIComponent(filter)}&limit=20&sortby=address&${properties}`))
        .features;
    }
  } catch (e) {
    status(`Search failed: ${e.message}`, true);
    return;
  }
  if (!features.length) {
    status(`No parcel has the code or an address containing “${q}”.`, true);
    return;
  }
  status(features.length === 1 ? "" : `${features.length} parcels found.`);
  if (features.length === 1) {
    goTo(features[0]);
    return;
  }
  const list = $("results-list");
  list.innerHTML = "";
  for (const f of features) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = `${f.properties.code} · ${f.properties.address || "no address"}`;
    button.addEventListener("click", () => goTo(f));
    item.append(button);
    list.append(item);
  }
  $("results").hidden = false;
  list.querySelector("button").focus();
}

$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  search($("search-input").value);
});

$("copy-link").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(window.location.href);
    status("Link copied.");
  } catch {
    status("Copy the address of the “Permalink” link instead.", true);
  }
});

updatePermalink();
loadStyleList();
const initialParcel = hashParams().get("parcel");
if (initialParcel) map.once("load", () => loadReport(initialParcel));
