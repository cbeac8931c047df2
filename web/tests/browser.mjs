// What the Chromium scripts of web/tests/ share: their arguments, the browser (Debian's chromium
// driven by playwright-core, WebGL through SwiftShader; CHROMIUM overrides the executable), the
// wait for the map to be drawn and the watch on a page's failed requests and console errors.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

// How long any one step may take (generous: CI runs the other tests on the same two cores).
export const TIMEOUT_MS = 60_000;

/** Throws `message` unless `condition` holds: the script's first failure. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * The script's arguments named by `usage` (`node tests/x.mjs BASE_URL ARTEFACTS_DIR …`): the first
 * `required` of them must be there, else the usage and exit 2. The artefacts folder is created.
 */
export function scriptArguments(usage, required) {
  const values = process.argv.slice(2);
  if (values.length < required || values.slice(0, required).some((v) => !v)) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  mkdirSync(values[1], { recursive: true });
  return values;
}

/** Headless Chromium with WebGL on the CPU (no GPU here). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"],
  });
}

/** Waits for the page's map (`window.urbisMap`) to be loaded, then for its next `idle`. */
export async function idle(page) {
  await page.waitForFunction(() => window.urbisMap && window.urbisMap.loaded() && window.urbisMap.isStyleLoaded(), null);
  await page.evaluate(
    (ms) =>
      new Promise((resolve, reject) => {
        const map = window.urbisMap;
        const timer = setTimeout(() => reject(new Error(`the map was not idle after ${ms} ms`)), ms);
        map.once("idle", () => {
          clearTimeout(timer);
          resolve();
        });
        map.triggerRepaint();
      }),
    TIMEOUT_MS,
  );
}

/**
 * Collects in `problems` what the page runs into: responses of 400 or more (but the `expected`
 * statuses), failed requests (but the tiles MapLibre cancels when the view moves on), page
 * errors, and console errors (but those `allowedConsole` accepts).
 */
export function watch(page, problems, { expected = new Set(), allowedConsole = () => false } = {}) {
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on("response", (r) => {
    if (r.status() >= 400 && !expected.has(r.status())) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    if (r.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`failed ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !allowedConsole(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
}

/** The visible controls of the page that have no name a screen reader can say. */
export async function unnamedControls(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, button, select, textarea")]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.labels && el.labels.length) && !el.textContent.trim() && !el.getAttribute("aria-label") && !el.title)
      .map((el) => el.outerHTML.slice(0, 80)),
  );
}

/** After a failure: what each open page said in its status lines, and a picture of it. */
export async function reportPages(browser, artefacts) {
  for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    const said = await p
      .evaluate(() => [...document.querySelectorAll("[role=status], [role=alert]")].map((el) => `${el.id}: ${el.textContent}`))
      .catch(() => []);
    console.error(`page ${i} (${p.url()}): ${JSON.stringify(said)}`);
    await p.screenshot({ path: join(artefacts, `failure-${i}.png`) }).catch(() => {});
  }
}
