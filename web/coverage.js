// The coverage analysis view: a form that starts a coverage job (POST /analysis/coverage), its
// progress from the job's Server-Sent Events, then the report (/analysis/jobs/{id}/result): the
// summary, population by travel time as a chart and a table, each centre's numbers, the suggested
// sites; and on the map the run's isochrones and uncovered areas (/analysis/jobs/{id}/features,
// nothing written to the store) with the suggested sites and the service centres.

import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";
import { apiRoot, cityMap, escapeHtml, formatNumber, getJson, status } from "./common.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
// Isochrone colours from the shortest cutoff (darkest) to the longest (lightest).
const ISO_COLOURS = ["#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef"];
const UNCOVERED = "#a1260d";
const SITE = "#7a0177";

// --- The map ---------------------------------------------------------------------------------
const map = cityMap(maplibregl, 13);
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
const mapReady = new Promise((resolve) => map.once("load", resolve));

const EMPTY = { type: "FeatureCollection", features: [] };

mapReady.then(async () => {
  map.addSource("coverage", { type: "geojson", data: EMPTY });
  map.addSource("sites", { type: "geojson", data: EMPTY });
  map.addSource("centres", { type: "geojson", data: EMPTY });
  map.addLayer({
    id: "coverage-uncovered",
    type: "fill",
    source: "coverage",
    filter: ["==", ["get", "kind"], "uncovered"],
    paint: { "fill-color": UNCOVERED, "fill-opacity": 0.45 },
  });
  map.addLayer({
    id: "coverage-isochrones",
    type: "fill",
    source: "coverage",
    filter: ["==", ["get", "kind"], "isochrone"],
    // The shorter cutoffs on top of the longer ones.
    layout: { "fill-sort-key": ["-", 0, ["get", "minutes"]] },
    paint: { "fill-color": ISO_COLOURS[0], "fill-opacity": 0.3 },
  });
  map.addLayer({
    id: "coverage-uncovered-outline",
    type: "line",
    source: "coverage",
    filter: ["==", ["get", "kind"], "uncovered"],
    paint: { "line-color": UNCOVERED, "line-width": 1.5 },
  });
  map.addLayer({
    id: "coverage-centres",
    type: "circle",
    source: "centres",
    paint: { "circle-radius": 6, "circle-color": "#1d1d1b", "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
  });
  map.addLayer({
    id: "coverage-sites",
    type: "circle",
    source: "sites",
    paint: { "circle-radius": 9, "circle-color": SITE, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
  });
  map.addLayer({
    id: "coverage-site-labels",
    type: "symbol",
    source: "sites",
    layout: { "text-field": ["to-string", ["get", "rank"]], "text-font": ["DejaVu Sans Bold"], "text-size": 12, "text-allow-overlap": true },
    paint: { "text-color": "#ffffff" },
  });
  try {
    const centres = await getJson("/collections/service_centres/items?limit=1000");
    map.getSource("centres").setData(centres);
  } catch (e) {
    status(`The service centres could not be read: ${e.message}`, true);
  }
});

// --- The form --------------------------------------------------------------------------------
/** The request the form describes, or throws an Error naming the field at fault. */
function readForm() {
  const number = (id, what) => {
    const text = $(id).value.trim();
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) throw fieldError(id, `${what} must be a number`);
    return value;
  };
  const minutes = number("minutes", "The time limit");
  const km = number("km", "The distance limit");
  const suggest = number("suggest", "The number of new centres");
  if (!Number.isInteger(suggest) || suggest < 0) throw fieldError("suggest", "The number of new centres must be a whole number, 0 or more");
  const parts = $("cutoffs").value.split(/[,;\s]+/).filter(Boolean);
  const cutoffs = parts.map(Number);
  const bad = parts.find((p, i) => !Number.isFinite(cutoffs[i]) || cutoffs[i] <= 0);
  if (bad !== undefined) throw fieldError("cutoffs", `The isochrone cutoff "${bad}" is not a positive number of minutes`);
  const request = { mode: $("mode").value, coverage: { minutes, km }, suggest, exact: $("exact").checked };
  if (cutoffs.length) request.cutoffs_min = cutoffs;
  return request;
}

function fieldError(id, message) {
  const error = new Error(message);
  error.field = id;
  return error;
}

let running = false;

$("analysis-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (running) return;
  document.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  let request;
  try {
    request = readForm();
  } catch (e) {
    status(e.message, true);
    if (e.field) {
      $(e.field).setAttribute("aria-invalid", "true");
      $(e.field).focus();
    }
    return;
  }
  running = true;
  $("run").disabled = true;
  try {
    await runAnalysis(request);
  } catch (e) {
    status(`The analysis failed: ${e.message}`, true);
    $("progress-box").hidden = true;
  } finally {
    running = false;
    $("run").disabled = false;
  }
});

async function runAnalysis(request) {
  status("Starting the analysis…");
  showProgress({ stage: "starting", done: 0, total: 0 });
  const job = await getJson("/analysis/coverage", {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  const jobPath = `/analysis/jobs/${encodeURIComponent(job.id)}`;
  const final = await followJob(jobPath);
  if (final.state !== "done") throw new Error(final.error || `the job ended as ${final.state}`);
  const [report, features] = await Promise.all([getJson(`${jobPath}/result`), getJson(`${jobPath}/features`)]);
  $("progress-box").hidden = true;
  showReport(report, jobPath);
  await showOnMap(report, features);
  status(`Done: ${describeRequest(report)}.`);
  $("summary-title").focus({ preventScroll: true });
}

/** Follows the job's events until its end; the job's last status. */
function followJob(jobPath) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(`${apiRoot}${jobPath}/events`);
    const read = (e) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    source.addEventListener("progress", (e) => {
      const s = read(e);
      if (s) showProgress(s);
    });
    source.addEventListener("end", (e) => {
      source.close();
      const s = read(e);
      if (s) resolve(s);
      else reject(new Error("the job's last event could not be read"));
    });
    // The stream broke (a proxy, a restart): ask for the status instead, until the job ends.
    source.onerror = () => {
      if (source.readyState === EventSource.CONNECTING) return;
      source.close();
      poll(jobPath).then(resolve, reject);
    };
  });
}

async function poll(jobPath) {
  for (;;) {
    const s = await getJson(jobPath);
    showProgress(s);
    if (s.state !== "running") return s;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function showProgress(s) {
  $("progress-box").hidden = false;
  const bar = $("progress");
  if (s.total > 0) {
    bar.max = s.total;
    bar.value = s.done;
  } else {
    bar.removeAttribute("value");
  }
  const part = s.total > 0 ? ` (${s.done} of ${s.total})` : "";
  // The server runs one analysis at a time; the others wait in turn.
  $("progress-label").textContent =
    s.stage === "queued" ? "Waiting for its turn: another analysis is running" : `Running: ${s.stage}${part}`;
}

function describeRequest(report) {
  const s = report.summary;
  return `${modeName(s.mode)}, ${formatNumber(s.minutes)} minutes or ${formatNumber(s.km, 2)} km`;
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function modeName(mode) {
  return { walk: "walking", cycle: "cycling", drive: "driving" }[mode] || mode;
}

// --- The report ------------------------------------------------------------------------------
/** A table cell holding `value` (kept whole in data-value) shown with `digits` decimals. */
function cell(value, digits = 0, field = "") {
  const shown = value === null || value === undefined ? "—" : formatNumber(value, digits);
  const data = value === null || value === undefined ? "" : ` data-value="${escapeHtml(value)}"`;
  return `<td class="num"${field ? ` data-field="${escapeHtml(field)}"` : ""}${data}>${escapeHtml(shown)}</td>`;
}

function shareCell(share, field) {
  return `<td class="num" data-field="${escapeHtml(field)}" data-value="${escapeHtml(share)}">${escapeHtml(formatPercent(share))}</td>`;
}

/** A share (0–1) as a percentage with one decimal, as the view shows it. */
function formatPercent(share) {
  return `${(share * 100).toFixed(1)} %`;
}

/** What the parcels are weighted by: population, another field, or 1 each. */
function weightName(report) {
  if (report.weight_field === "population") return "Population";
  return report.weight_field ? `Weight (${report.weight_field})` : "Weight (1 per parcel)";
}

function showReport(report, jobPath) {
  $("results").hidden = false;
  const s = report.summary;
  const weight = weightName(report);
  $("summary-caption").textContent =
    `${capitalised(modeName(s.mode))}; ${formatNumber(s.origins, 0)} parcels, ${formatNumber(s.total_weight, 0)} ${weight.toLowerCase()} in all; ` +
    `${report.centres.length} centres. Uncovered: ${formatNumber(report.uncovered.parcels, 0)} parcels ` +
    `(${formatNumber(report.uncovered.weight, 0)}) in ${formatNumber(report.uncovered.polygons, 0)} areas, ` +
    `${formatNumber(report.uncovered.area_km2, 2)} km².`;
  $("summary-table").querySelector("thead th:nth-child(4)").textContent = weight;
  const rows = [
    ["by_time", `Within ${formatNumber(s.minutes)} minutes`],
    ["by_network_km", `Within ${formatNumber(s.km, 2)} km on the network`],
    ["by_straight_km", `Within ${formatNumber(s.km, 2)} km in a straight line`],
    ["by_time_or_network_km", "Either (time or network distance)"],
    ["by_time_or_straight_km", "Either (time or straight-line distance)"],
    ["unreached", "No centre reachable"],
  ];
  $("summary-table").querySelector("tbody").innerHTML = rows
    .map(
      ([key, label]) =>
        `<tr data-key="${key}"><th scope="row">${escapeHtml(label)}</th>${cell(s[key].origins, 0, "origins")}${shareCell(
          s[key].origin_share,
          "origin_share",
        )}${cell(s[key].weight, 0, "weight")}${shareCell(s[key].weight_share, "weight_share")}</tr>`,
    )
    .join("");

  showChart(report);
  showCentres(report);
  showSuggestion(report);
  $("report-link").href = `${apiRoot}${jobPath}/result`;
  $("features-link").href = `${apiRoot}${jobPath}/features`;
}

function showChart(report) {
  const bins = report.by_travel_time;
  const limit = report.summary.minutes;
  $("bins-table").querySelector("thead th:nth-child(3)").textContent = weightName(report);
  $("bins-table").querySelector("tbody").innerHTML = bins
    .map(
      (b) =>
        `<tr data-from="${escapeHtml(b.from_min)}"><th scope="row">${formatNumber(b.from_min)}–${formatNumber(b.to_min)}</th>${cell(
          b.origins,
          0,
          "origins",
        )}${cell(b.weight, 0, "weight")}</tr>`,
    )
    .join("");

  // A bar per bin; bins beyond the time limit in the uncovered colour.
  const width = 320;
  const height = 170;
  const pad = { left: 44, right: 8, top: 8, bottom: 30 };
  const top = Math.max(1, ...bins.map((b) => b.weight));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = bins.length ? plotW / bins.length : plotW;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", "chart-svg-title");
  const add = (parent, tag, attrs, text) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    parent.append(el);
    return el;
  };
  const within = bins.filter((b) => b.to_min <= limit).reduce((sum, b) => sum + b.weight, 0);
  add(
    svg,
    "title",
    { id: "chart-svg-title" },
    `Bar chart: ${weightName(report).toLowerCase()} by travel time to the nearest centre in ${bins.length} bins; ` +
      `${formatNumber(within, 0)} within ${formatNumber(limit)} minutes. The numbers are in the table below.`,
  );
  const y = (v) => pad.top + plotH - (v / top) * plotH;
  for (const tick of [0, top / 2, top]) {
    add(svg, "line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" });
    add(svg, "text", { x: pad.left - 4, y: y(tick) + 4, "text-anchor": "end", class: "tick" }, formatNumber(tick, 0));
  }
  bins.forEach((b, i) => {
    const h = (b.weight / top) * plotH;
    const bar = add(svg, "rect", {
      x: pad.left + i * barW + 1,
      y: pad.top + plotH - h,
      width: Math.max(1, barW - 2),
      height: h,
      class: b.to_min <= limit ? "bar" : "bar over",
      "data-from": b.from_min,
      "data-value": b.weight,
    });
    add(bar, "title", {}, `${formatNumber(b.from_min)}–${formatNumber(b.to_min)} min: ${formatNumber(b.weight, 0)}`);
  });
  const labelEvery = Math.max(1, Math.ceil(bins.length / 8));
  bins.forEach((b, i) => {
    if (i % labelEvery === 0) {
      add(svg, "text", { x: pad.left + i * barW, y: height - pad.bottom + 14, "text-anchor": "middle", class: "tick" }, formatNumber(b.from_min));
    }
  });
  add(svg, "text", { x: pad.left + plotW / 2, y: height - 2, "text-anchor": "middle", class: "axis" }, "minutes to the nearest centre");
  $("chart").replaceChildren(svg);
}

function showCentres(report) {
  const cutoffs = report.request.cutoffs_min;
  const table = $("centres-table");
  table.querySelector("thead").innerHTML =
    `<tr><th scope="col">Centre</th><th scope="col">Catchment</th><th scope="col">Of it within ${formatNumber(report.summary.minutes)} min</th>` +
    cutoffs.map((m) => `<th scope="col">Reaches within ${formatNumber(m)} min</th>`).join("") +
    `<th scope="col">Lost if closed</th></tr>`;
  table.querySelector("tbody").innerHTML = report.centres
    .map((c) => {
      const name = c.name ? `${c.name}` : c.id;
      const note = c.unusable ? `<br><span class="error">Not usable: ${escapeHtml(c.unusable)}</span>` : "";
      const reach = cutoffs
        .map((m) => {
          const r = c.reach.find((x) => x.minutes === m);
          return cell(r ? r.weight : null, 0, `reach_${m}`);
        })
        .join("");
      return (
        `<tr data-centre="${escapeHtml(c.id)}"><th scope="row">${escapeHtml(name)}${c.kind ? ` <span class="muted">(${escapeHtml(c.kind)})</span>` : ""}${note}</th>` +
        `${cell(c.catchment.weight, 0, "catchment_weight")}${cell(c.catchment.covered_weight, 0, "covered_weight")}${reach}` +
        `${cell(c.closure_loss_weight, 0, "closure_loss_weight")}</tr>`
      );
    })
    .join("");
  const least = report.centres.find((c) => c.id === report.least_loss_closure);
  const explain =
    `${weightName(report)}. Catchment: the parcels whose nearest centre this is; reaches: all it reaches, ` +
    "whatever is nearer; lost if closed: what no other centre covers in the time limit.";
  $("closure").textContent = least
    ? `${explain} The centre whose closing would lose the least coverage: ${least.name || least.id} (${formatNumber(
        least.closure_loss_weight,
        0,
      )}).`
    : explain;
}

/** The sites to show: the exact optimum where it ran, else greedy improved by swaps. */
function chosenSites(report) {
  const s = report.suggestion;
  if (!s) return [];
  return (s.exact || s.swapped).sites;
}

function showSuggestion(report) {
  const s = report.suggestion;
  $("suggestion").hidden = !s;
  if (!s) return;
  const which = s.exact ? "the exact optimum" : "greedy improved by swaps";
  const gap = s.gap === null || s.gap === undefined ? "" : ` Greedy with swaps is ${formatPercent(s.gap)} below the optimum.`;
  $("suggestion-caption").textContent =
    `${s.k} sites from ${formatNumber(s.candidates, 0)} candidates (${which}). Uncovered: ${formatNumber(s.demand_weight, 0)}, ` +
    `of which ${formatNumber(s.unreachable_weight, 0)} no candidate can reach.${gap}`;
  $("sites-table").querySelector("tbody").innerHTML = chosenSites(report)
    .map((site, i) => `<tr data-site="${escapeHtml(site.id)}"><td>${i + 1}</td><td>${escapeHtml(site.id)}</td>${cell(site.gain, 0, "gain")}</tr>`)
    .join("");
}

// --- The map's results -----------------------------------------------------------------------
async function showOnMap(report, features) {
  await mapReady;
  const cutoffs = [...report.request.cutoffs_min].sort((a, b) => a - b);
  const colour = ["match", ["get", "minutes"]];
  cutoffs.forEach((m, i) => colour.push(m, ISO_COLOURS[Math.min(i, ISO_COLOURS.length - 1)]));
  colour.push(ISO_COLOURS[ISO_COLOURS.length - 1]);
  map.setPaintProperty("coverage-isochrones", "fill-color", cutoffs.length ? colour : ISO_COLOURS[0]);
  map.getSource("coverage").setData(features);
  const sites = chosenSites(report).map((site, i) => ({
    type: "Feature",
    id: i + 1,
    geometry: { type: "Point", coordinates: [site.lon, site.lat] },
    properties: { id: site.id, rank: i + 1, gain: site.gain },
  }));
  map.getSource("sites").setData({ type: "FeatureCollection", features: sites });
  buildLayerSwitch(cutoffs);

  // Frame everything the run drew.
  const bounds = new maplibregl.LngLatBounds();
  const extend = (coords) => {
    if (typeof coords[0] === "number") bounds.extend(coords);
    else coords.forEach(extend);
  };
  for (const f of features.features) if (f.geometry) extend(f.geometry.coordinates);
  for (const f of sites) extend(f.geometry.coordinates);
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 30, duration: 0 });
}

/** Check boxes: one per isochrone cutoff, the uncovered areas, the sites, the centres. */
function buildLayerSwitch(cutoffs) {
  const box = $("layers");
  box.querySelectorAll("label").forEach((l) => l.remove());
  const shown = new Set(cutoffs);
  const isoFilter = () => ["all", ["==", ["get", "kind"], "isochrone"], ["in", ["get", "minutes"], ["literal", [...shown]]]];
  map.setFilter("coverage-isochrones", isoFilter());
  const add = (text, swatch, onChange) => {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" checked><span class="swatch" style="background:${swatch}" aria-hidden="true"></span>${escapeHtml(text)}`;
    label.querySelector("input").addEventListener("change", (e) => onChange(e.target.checked));
    box.append(label);
  };
  cutoffs.forEach((m, i) =>
    add(`Isochrones, ${formatNumber(m)} minutes`, ISO_COLOURS[Math.min(i, ISO_COLOURS.length - 1)], (on) => {
      if (on) shown.add(m);
      else shown.delete(m);
      map.setFilter("coverage-isochrones", isoFilter());
    }),
  );
  const visibility = (ids, on) => ids.forEach((id) => map.setLayoutProperty(id, "visibility", on ? "visible" : "none"));
  add("Uncovered areas", UNCOVERED, (on) => visibility(["coverage-uncovered", "coverage-uncovered-outline"], on));
  add("Suggested sites", SITE, (on) => visibility(["coverage-sites", "coverage-site-labels"], on));
  add("Service centres", "#1d1d1b", (on) => visibility(["coverage-centres"], on));
}
