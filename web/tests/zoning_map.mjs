// The zoning map end to end in real headless Chromium (Debian's, driven by playwright-core):
//
//   node tests/zoning_map.mjs http://127.0.0.1:8080 /path/to/artefacts
//
// Loads /map/ on a running urbis, waits for the map's `idle` event, checks that the zoning layer
// rendered features, clicks a parcel and checks that the panel shows the zone that the rendered
// tiles have at that point (the report comes from the server's spatial query, the tiles from the
// tile encoder: two paths that must agree), searches that parcel's code, switches a layer group
// off and the map to the cadastre, then loads the map on a phone-sized touch screen. Saves
// screenshots to the artefacts folder and prints a JSON summary; exits 1 with the reason on the
// first failure. CHROMIUM overrides the browser (default /usr/bin/chromium).

import { join } from "node:path";
import { check, idle, launch, scriptArguments, watch } from "./browser.mjs";

const [base, artefacts] = scriptArguments("node tests/zoning_map.mjs BASE_URL ARTEFACTS_DIR", 2);

// A view over central Cambridge (between Harvard and Central Squares) where parcels are drawn.
const VIEW = "16/42.3702/-71.1105";

const browser = await launch();
const summary = {};
try {
  // --- A desktop screen ------------------------------------------------------------------------
  const problems = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  watch(page, problems);
  await page.goto(`${base}/map/#map=${VIEW}`);
  await idle(page);

  const rendered = await page.evaluate(() => {
    const map = window.urbisMap;
    const zoning = map.queryRenderedFeatures({ layers: ["zoning-fill"] });
    const parcels = map.queryRenderedFeatures({ layers: ["parcel-hit"] });
    const labels = map.queryRenderedFeatures({ layers: ["zoning-labels", "road-labels"] });
    return {
      zoning: zoning.length,
      codes: [...new Set(zoning.map((f) => f.properties.code))].sort(),
      parcels: parcels.length,
      labels: labels.length,
    };
  });
  check(rendered.zoning > 0, `the zoning layer rendered no feature: ${JSON.stringify(rendered)}`);
  check(rendered.parcels > 0, `no parcel was rendered at zoom 16: ${JSON.stringify(rendered)}`);
  check(rendered.labels > 0, `no label (zone code, street name) was drawn: the glyphs did not load?`);
  summary.rendered = rendered;
  // The overlays' hatching comes from urbis's sprite.
  const patterns = await page.evaluate(() => ["hatch-7b3f00", "hatch-1f5fbf"].filter((n) => window.urbisMap.hasImage(n)).length);
  check(patterns === 2, "the sprite's hatching patterns were not loaded");
  const legend = await page.locator("#legend li").count();
  check(legend >= 6, `the legend has ${legend} entries`);

  // Every control has a name a screen reader can say (a label, text or aria-label).
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("input, button, select")]
      .filter((el) => !(el.labels && el.labels.length) && !el.textContent.trim() && !el.getAttribute("aria-label") && !el.title)
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  check(unnamed.length === 0, `controls without a name:\n${unnamed.join("\n")}`);

  // The keyboard pans the map (focus on the map, an arrow key), and back.
  const before = await page.evaluate(() => window.urbisMap.getCenter().lng);
  await page.focus("#map canvas");
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction((lng) => window.urbisMap.getCenter().lng > lng && !window.urbisMap.isMoving(), before);
  await page.keyboard.press("ArrowLeft");
  await page.waitForFunction((lng) => Math.abs(window.urbisMap.getCenter().lng - lng) < 1e-6 && !window.urbisMap.isMoving(), before);
  await idle(page);

  // A point inside a parcel and inside exactly one zoning district, from the rendered tiles.
  const target = await page.evaluate(() => {
    const map = window.urbisMap;
    const { width, height } = map.getCanvas().getBoundingClientRect();
    for (let i = 3; i <= 9; i++) {
      for (let j = 3; j <= 9; j++) {
        const point = [(width * i) / 12, (height * j) / 12];
        const parcels = map.queryRenderedFeatures(point, { layers: ["parcel-hit"] });
        const zones = map.queryRenderedFeatures(point, { layers: ["zoning-fill"] });
        // Not the city's street parcel (code ROAD, over a square kilometre across dozens of
        // districts, more than the report lists).
        const small = parcels.length === 1 && parcels[0].properties.code !== "ROAD" && parcels[0].properties.area_m2 < 100_000;
        if (small && zones.length === 1) {
          return { x: point[0], y: point[1], parcel: parcels[0].properties.id, code: parcels[0].properties.code, zone: zones[0].properties.code };
        }
      }
    }
    return null;
  });
  check(target, "no point of the map is inside one parcel and one zoning district");
  const box = await page.locator("#map canvas").boundingBox();
  await page.mouse.click(box.x + target.x, box.y + target.y);
  await page.waitForSelector("#report-zones");
  const zonesText = await page.locator("#report-zones").innerText();
  const title = await page.locator("#report-title").innerText();
  const zoneCodes = await page.locator("#report-zones .zone-code").allInnerTexts();
  check(zoneCodes.includes(target.zone), `the panel shows zones ${JSON.stringify(zoneCodes)}, the tiles ${target.zone} at the click`);
  check(title.includes(target.code), `the panel's title is "${title}", the parcel clicked ${target.code}`);
  check(page.url().includes(`parcel=${encodeURIComponent(target.parcel)}`), `the permalink lacks the parcel: ${page.url()}`);
  check(/map=\d+(\.\d+)?\/42\.\d+\/-71\.\d+/.test(page.url()), `the permalink lacks the view: ${page.url()}`);
  summary.clicked = { ...target, panel: zonesText.split("\n")[0] };
  await page.screenshot({ path: join(artefacts, "zoning-map.png") });

  // The permalink restores the view and the parcel in a new page.
  const permalink = await page.locator("#permalink").getAttribute("href");
  const again = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  watch(again, problems);
  await again.goto(permalink);
  await again.waitForSelector("#report-zones");
  check((await again.locator("#report-title").innerText()).includes(target.code), "the permalink did not reopen the parcel");
  await again.close();

  // Search by the parcel's code (several parcels may share one: then a list to choose from).
  await page.fill("#search-input", target.code);
  await page.press("#search-input", "Enter");
  await page.waitForFunction(
    (code) => !document.getElementById("results").hidden || document.getElementById("report-title").textContent.includes(code),
    target.code,
  );
  if (await page.locator("#results").isVisible()) {
    const first = page.locator("#results-list button").first();
    check((await first.innerText()).includes(target.code), "the search results do not list the code searched");
    await first.click();
  }
  await page.waitForFunction((code) => document.getElementById("report-title").textContent.includes(code), target.code);
  summary.searched = target.code;

  // Search by its address, in lower case: the parcel is found (alone, or in the list).
  const address = await page.locator("#report-body dd").nth(1).innerText();
  check(address && address !== "—", `the report shows no address for ${target.code}`);
  // The title still names the parcel from the search before: blank it, so that only this
  // search can name it again.
  await page.evaluate(() => {
    document.getElementById("report-title").textContent = "";
  });
  await page.fill("#search-input", address.toLowerCase());
  await page.press("#search-input", "Enter");
  await page.waitForFunction(
    (code) => {
      const results = document.getElementById("results");
      const inList = !results.hidden && results.textContent.includes(code);
      return inList || document.getElementById("report-title").textContent.includes(code);
    },
    target.code,
  );
  summary.searchedAddress = address;

  // The layer switcher hides the overlays; the map switch shows the cadastre.
  await page.getByLabel("Overlay districts").uncheck();
  const visibility = await page.evaluate(() => window.urbisMap.getLayoutProperty("overlays-outline", "visibility"));
  check(visibility === "none", `the overlays are still drawn (${visibility}) after unchecking them`);
  check(page.url().includes("hide=overlays"), `the hidden group is not in the permalink: ${page.url()}`);
  await page.getByLabel("Cadastre").check();
  await page.waitForFunction(() => window.urbisMap.getStyle().name === "Cadastre", null);
  await idle(page);
  const cadastre = await page.evaluate(() => window.urbisMap.queryRenderedFeatures({ layers: ["parcel-fill"] }).length);
  check(cadastre > 0, "the cadastre map rendered no parcel");
  summary.cadastreParcels = cadastre;
  await page.screenshot({ path: join(artefacts, "cadastre-map.png") });

  // --- A phone: the map on top, the panel below, touch ----------------------------------------
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  watch(phone, problems);
  await phone.goto(`${base}/map/#map=${VIEW}`);
  await idle(phone);
  const phoneZoning = await phone.evaluate(() => window.urbisMap.queryRenderedFeatures({ layers: ["zoning-fill"] }).length);
  check(phoneZoning > 0, "the zoning layer rendered nothing on a phone");
  const mapBox = await phone.locator("#map").boundingBox();
  const panelBox = await phone.locator("#panel").boundingBox();
  check(panelBox.y >= mapBox.y + mapBox.height - 1, "on a phone the panel is not below the map");
  check(mapBox.width <= 390 && panelBox.width <= 390, "the page is wider than the phone");
  await phone.tap("#here");
  await phone.waitForFunction(() => document.getElementById("report-title").textContent !== "Parcel", null);
  await phone.screenshot({ path: join(artefacts, "zoning-map-phone.png") });

  check(problems.length === 0, `the pages ran into problems:\n${problems.join("\n")}`);
  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(`zoning map test failed: ${e.stack || e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
