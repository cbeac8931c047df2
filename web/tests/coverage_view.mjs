// The coverage analysis view end to end in real headless Chromium (Debian's, driven by
// playwright-core):
//
//   node tests/coverage_view.mjs http://127.0.0.1:8080 /path/to/artefacts [report.json]
//
// Opens /map/coverage.html on a running urbis, runs a walking analysis from the form (submitted
// with the keyboard), watches the progress bar, then checks every figure the page shows (summary,
// population by travel time, each centre's numbers, the suggested sites) against the report of the
// same request run independently through the API (POST /analysis/coverage, polling the job, its
// /result; or that report, read from the file given as the third argument), and that the isochrones, the uncovered areas and the sites were drawn on the map
// (queryRenderedFeatures). A bad value is refused with the server's message; a phone gets the
// analysis under the map. Saves screenshots to the artefacts folder and prints a JSON summary;
// exits 1 with the reason on the first failure. CHROMIUM overrides the browser.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { check, idle, launch, scriptArguments, TIMEOUT_MS, watch } from "./browser.mjs";

const [base, artefacts, reportFile] = scriptArguments("node tests/coverage_view.mjs BASE_URL ARTEFACTS_DIR [REPORT_JSON]", 2);

// The request the form is filled with, as the API takes it.
const FORM = { mode: "walk", minutes: "10", km: "1", cutoffs: "5, 10", suggest: "2" };
const REQUEST = { mode: "walk", coverage: { minutes: 10, km: 1 }, cutoffs_min: [5, 10], suggest: 2, exact: false };

/** The same request through the API alone: the job's report. */
async function apiReport(request) {
  const started = await fetch(`${base}/analysis/coverage`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  if (started.status !== 202) throw new Error(`POST /analysis/coverage answered ${started.status}: ${await started.text()}`);
  const { id } = await started.json();
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const status = await (await fetch(`${base}/analysis/jobs/${id}`)).json();
    if (status.state === "done") break;
    check(status.state === "running", `the API's job ended as ${JSON.stringify(status)}`);
    check(Date.now() < deadline, "the API's job did not end in time");
    await new Promise((r) => setTimeout(r, 200));
  }
  const result = await fetch(`${base}/analysis/jobs/${id}/result`);
  check(result.status === 200, `/result answered ${result.status}`);
  return result.json();
}

/** Every figure the page shows, read from its tables (data-value: the number behind the text). */
async function shownFigures(page) {
  return page.evaluate(() => {
    const value = (td) => (td && td.dataset.value !== undefined ? Number(td.dataset.value) : null);
    const rowFields = (tr) => Object.fromEntries([...tr.querySelectorAll("td[data-field]")].map((td) => [td.dataset.field, value(td)]));
    const texts = (tr) => Object.fromEntries([...tr.querySelectorAll("td[data-field]")].map((td) => [td.dataset.field, td.textContent]));
    return {
      summary: Object.fromEntries([...document.querySelectorAll("#summary-table tbody tr")].map((tr) => [tr.dataset.key, { ...rowFields(tr), text: texts(tr) }])),
      bins: [...document.querySelectorAll("#bins-table tbody tr")].map((tr) => ({ from: Number(tr.dataset.from), ...rowFields(tr) })),
      bars: [...document.querySelectorAll("#chart rect.bar")].map((r) => ({ from: Number(r.dataset.from), weight: Number(r.dataset.value) })),
      centres: Object.fromEntries([...document.querySelectorAll("#centres-table tbody tr")].map((tr) => [tr.dataset.centre, rowFields(tr)])),
      sites: [...document.querySelectorAll("#sites-table tbody tr")].map((tr) => ({ id: tr.dataset.site, ...rowFields(tr) })),
      report: document.getElementById("report-link").href,
    };
  });
}

function same(shown, expected, what) {
  check(shown === expected, `${what}: the page shows ${shown}, the API says ${expected}`);
}

/** The page's figures against the API's report for the same request. */
function compare(shown, report) {
  const keys = ["by_time", "by_network_km", "by_straight_km", "by_time_or_network_km", "by_time_or_straight_km", "unreached"];
  check(Object.keys(shown.summary).length === keys.length, `summary rows: ${Object.keys(shown.summary)}`);
  for (const key of keys) {
    const want = report.summary[key];
    const row = shown.summary[key];
    check(row, `the summary has no row ${key}`);
    for (const field of ["origins", "weight", "origin_share", "weight_share"]) same(row[field], want[field], `summary ${key} ${field}`);
    for (const field of ["origin_share", "weight_share"]) {
      const text = `${(want[field] * 100).toFixed(1)} %`;
      check(row.text[field] === text, `summary ${key} ${field}: shown as "${row.text[field]}", expected "${text}"`);
    }
  }
  same(shown.bins.length, report.by_travel_time.length, "bins of population by travel time");
  same(shown.bars.length, report.by_travel_time.length, "bars of the chart");
  report.by_travel_time.forEach((b, i) => {
    same(shown.bins[i].from, b.from_min, `bin ${i} start`);
    same(shown.bins[i].origins, b.origins, `bin ${i} parcels`);
    same(shown.bins[i].weight, b.weight, `bin ${i} weight`);
    same(shown.bars[i].weight, b.weight, `bar ${i} weight`);
  });
  same(Object.keys(shown.centres).length, report.centres.length, "centres listed");
  for (const c of report.centres) {
    const row = shown.centres[c.id];
    check(row, `the centre ${c.id} is not in the table`);
    same(row.catchment_weight, c.catchment.weight, `${c.id} catchment`);
    same(row.covered_weight, c.catchment.covered_weight, `${c.id} covered in the time limit`);
    same(row.closure_loss_weight, c.closure_loss_weight, `${c.id} closure loss`);
    for (const r of c.reach) same(row[`reach_${r.minutes}`], r.weight, `${c.id} within ${r.minutes} min`);
  }
  const sites = report.suggestion.exact ? report.suggestion.exact.sites : report.suggestion.swapped.sites;
  same(shown.sites.length, sites.length, "suggested sites");
  sites.forEach((s, i) => {
    same(shown.sites[i].id, s.id, `site ${i + 1}`);
    same(shown.sites[i].gain, s.gain, `site ${i + 1} gain`);
  });
}

// The page logs the 400 of a refused value; the test checks that refusal itself.
const allowedConsole = (text) => /the server responded with a status of 400/.test(text);

const browser = await launch();
const summary = {};
try {
  // The independent run first (every job reads the store afresh).
  const expected = reportFile ? JSON.parse(readFileSync(reportFile, "utf8")) : await apiReport(REQUEST);
  check(JSON.stringify(expected.request.cutoffs_min) === "[5,10]" && expected.request.suggest === 2, "the report is not for this test's request");
  check(expected.uncovered.polygons > 0, `the demo city has no uncovered area at 10 min / 1 km: the test would prove little`);
  check(expected.suggestion && expected.suggestion.swapped.sites.length === 2, "the API suggested no 2 sites");

  // --- A desktop screen ------------------------------------------------------------------------
  const problems = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  watch(page, problems, { expected: new Set([400]), allowedConsole });
  await page.goto(`${base}/map/coverage.html`);
  await idle(page);

  // Every control has a name a screen reader can say.
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("input, button, select")]
      .filter((el) => !(el.labels && el.labels.length) && !el.textContent.trim() && !el.getAttribute("aria-label") && !el.title)
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  check(unnamed.length === 0, `controls without a name:\n${unnamed.join("\n")}`);

  // A bad value: the server's refusal is shown, naming what is wrong.
  await page.getByLabel("Time limit (minutes)").fill("-5");
  await page.getByRole("button", { name: "Run the analysis" }).click();
  await page.waitForFunction(() => document.getElementById("status").classList.contains("error"), null);
  const refusal = await page.locator("#status").innerText();
  check(/minutes/i.test(refusal), `the refusal does not name the minutes: "${refusal}"`);
  check(await page.locator("#results").isHidden(), "results are shown after a refused request");
  summary.refusal = refusal;

  // Fill the form and submit it with the keyboard; record what the progress bar said.
  await page.getByLabel("Travel mode").selectOption(FORM.mode);
  await page.getByLabel("Time limit (minutes)").fill(FORM.minutes);
  await page.getByLabel("Distance limit (km)").fill(FORM.km);
  await page.getByLabel("Isochrones at (minutes, comma separated)").fill(FORM.cutoffs);
  await page.getByLabel("Suggest new centres (0 for none)").fill(FORM.suggest);
  await page.evaluate(() => {
    window.progressSeen = [];
    new MutationObserver(() => window.progressSeen.push(document.getElementById("progress-label").textContent)).observe(
      document.getElementById("progress-label"),
      { childList: true, characterData: true, subtree: true },
    );
  });
  const started = Date.now();
  await page.getByLabel("Suggest new centres (0 for none)").press("Enter");
  await page.waitForFunction(() => !document.getElementById("results").hidden && /^Done/.test(document.getElementById("status").textContent), null);
  summary.viewRunMs = Date.now() - started;
  const progress = await page.evaluate(() => window.progressSeen);
  check(progress.some((t) => /^Running: /.test(t)), `the progress bar never showed the job running: ${JSON.stringify(progress)}`);
  check(await page.locator("#progress-box").isHidden(), "the progress bar stays after the end");
  summary.progressStages = [...new Set(progress.map((t) => t.replace(/^Running: /, "").replace(/ \(.*$/, "")))];

  // The figures shown are the API's for the same request.
  const shown = await shownFigures(page);
  compare(shown, expected);
  // The page's own job is the one it links to; its report is the same too.
  const own = await (await fetch(shown.report)).json();
  check(JSON.stringify(own.summary) === JSON.stringify(expected.summary), "the page's job and the API's job differ (not reproducible?)");
  summary.figures = {
    covered_by_time: expected.summary.by_time.weight_share,
    covered_either: expected.summary.by_time_or_network_km.weight_share,
    centres: expected.centres.length,
    bins: expected.by_travel_time.length,
    uncovered_polygons: expected.uncovered.polygons,
  };

  // The map: isochrones of both cutoffs, uncovered areas and the two sites drawn.
  await idle(page);
  const drawn = await page.evaluate(() => {
    const map = window.urbisMap;
    const iso = map.queryRenderedFeatures({ layers: ["coverage-isochrones"] });
    return {
      isochrones: iso.length,
      cutoffs: [...new Set(iso.map((f) => f.properties.minutes))].sort((a, b) => a - b),
      centres: new Set(iso.map((f) => f.properties.centre)).size,
      uncovered: map.queryRenderedFeatures({ layers: ["coverage-uncovered"] }).length,
      sites: new Set(map.queryRenderedFeatures({ layers: ["coverage-sites"] }).map((f) => f.properties.id)).size,
    };
  });
  check(drawn.isochrones > 0, `no isochrone was drawn: ${JSON.stringify(drawn)}`);
  check(JSON.stringify(drawn.cutoffs) === "[5,10]", `isochrones drawn for cutoffs ${JSON.stringify(drawn.cutoffs)}`);
  check(drawn.uncovered > 0, `no uncovered area was drawn: ${JSON.stringify(drawn)}`);
  check(drawn.sites === 2, `${drawn.sites} suggested sites drawn`);
  summary.drawn = drawn;
  await page.screenshot({ path: join(artefacts, "coverage-view.png") });

  // The layer switch hides a cutoff's isochrones.
  await page.getByLabel("Isochrones, 10 minutes").uncheck();
  await idle(page);
  const only5 = await page.evaluate(() => [
    ...new Set(window.urbisMap.queryRenderedFeatures({ layers: ["coverage-isochrones"] }).map((f) => f.properties.minutes)),
  ]);
  check(JSON.stringify(only5) === "[5]", `after hiding the 10-minute isochrones: ${JSON.stringify(only5)}`);
  check(problems.length === 0, `the page ran into problems:\n${problems.join("\n")}`);

  // --- A phone: the analysis under the map, nothing wider than the screen ---------------------
  const phoneProblems = [];
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  watch(phone, phoneProblems, { allowedConsole });
  await phone.goto(`${base}/map/coverage.html`);
  await idle(phone);
  const mapBox = await phone.locator("#map").boundingBox();
  const panelBox = await phone.locator("#panel").boundingBox();
  check(panelBox.y >= mapBox.y + mapBox.height - 1, "on a phone the analysis is not below the map");
  await phone.getByLabel("Suggest new centres (0 for none)").fill("0");
  await phone.tap("#run");
  await phone.waitForFunction(() => !document.getElementById("results").hidden && /^Done/.test(document.getElementById("status").textContent), null);
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `the phone's page is ${width} px wide`);
  await idle(phone);
  const phoneIso = await phone.evaluate(() => window.urbisMap.queryRenderedFeatures({ layers: ["coverage-isochrones"] }).length);
  check(phoneIso > 0, "no isochrone drawn on a phone");
  await phone.screenshot({ path: join(artefacts, "coverage-view-phone.png") });
  check(phoneProblems.length === 0, `the phone's page ran into problems:\n${phoneProblems.join("\n")}`);

  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(`coverage view test failed: ${e.stack || e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
