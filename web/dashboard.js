// The service centres' dashboard: for a period, the one-stop centres on the map in their colours
// (/dashboard/centres.geojson) and a table of their figures with the overall ones (/dashboard).

import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";
import { apiRoot, cityMap, escapeHtml, formatNumber, getJson, status } from "./common.js";

const $ = (id) => document.getElementById(id);
const COLOURS = { green: "#1a9850", yellow: "#fee08b", red: "#d73027", grey: "#9e9e9e" };
const LABELS = { green: "green", yellow: "yellow", red: "red", grey: "no rating" };

const map = cityMap(maplibregl, 12.5);
const mapReady = new Promise((resolve) => map.once("load", resolve));

mapReady.then(() => {
  map.addSource("centres", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  map.addLayer({
    id: "centres",
    type: "circle",
    source: "centres",
    paint: {
      "circle-radius": 11,
      "circle-color": ["match", ["get", "colour"], "green", COLOURS.green, "yellow", COLOURS.yellow, "red", COLOURS.red, COLOURS.grey],
      "circle-stroke-color": "#1d1d1b",
      "circle-stroke-width": 2,
    },
  });
  map.on("click", "centres", (e) => {
    const p = e.features[0].properties;
    new maplibregl.Popup()
      .setLngLat(e.lngLat)
      .setHTML(`<strong>${escapeHtml(p.name)}</strong><br>${escapeHtml(LABELS[p.colour] || p.colour)}: ${pct(p.on_time_rate)} on time`)
      .addTo(map);
  });
});

const pct = (v) => (v === null || v === undefined || v === "null" ? "—" : `${formatNumber(100 * Number(v), 2)}%`);
const num = (v, d = 1) => (v === null || v === undefined ? "—" : formatNumber(v, d));

function row(name, colour, f, cls = "") {
  const dot = `<span class="dot" style="background:${COLOURS[colour] || COLOURS.grey}" aria-hidden="true"></span>`;
  const s = f.satisfaction;
  const satisfaction = s.count ? `${num(s.mean, 2)} (${pct(s.share_4_or_more)} ≥ 4, n ${s.count})` : "—";
  return `<tr class="${cls}" data-colour="${escapeHtml(colour)}"><td>${dot}${escapeHtml(name)} <span class="visually-hidden">(${escapeHtml(LABELS[colour] || colour)})</span></td>
    <td>${f.received}</td><td>${f.decided}</td><td>${pct(f.on_time_rate)}</td><td>${f.open}</td>
    <td>${f.open_at_risk}</td><td>${f.open_overdue}</td><td>${pct(f.online_share)}</td>
    <td>${num(f.processing_days_mean)}</td><td>${num(f.processing_days_p90, 0)}</td><td>${satisfaction}</td></tr>`;
}

function query() {
  const p = new URLSearchParams();
  for (const id of ["from", "to"]) if ($(id).value) p.set(id, $(id).value);
  for (const id of ["green", "yellow"]) if ($(id).value !== "") p.set(id, String(Number($(id).value) / 100));
  return p.toString();
}

async function show() {
  const q = query();
  $("json-link").href = `${apiRoot}/dashboard?${q}`;
  $("geojson-link").href = `${apiRoot}/dashboard/centres.geojson?${q}`;
  status("Loading…");
  try {
    const [d, g] = await Promise.all([getJson(`/dashboard?${q}`), getJson(`/dashboard/centres.geojson?${q}`)]);
    $("from").value = d.period.from;
    $("to").value = d.period.to;
    const rows = d.centres.map((c) => row(c.name || c.id, c.colour, c.figures));
    rows.push(row("All centres", d.overall.colour, d.overall, "overall"));
    $("centres-table").querySelector("tbody").innerHTML = rows.join("");
    await mapReady;
    map.getSource("centres").setData(g);
    status(`${d.period.from} to ${d.period.to} (excluded), as of ${d.period.at}.`);
  } catch (e) {
    status(`The dashboard could not be read: ${e.message}`, true);
  }
}

$("period-form").addEventListener("submit", (e) => {
  e.preventDefault();
  show();
});
show();
