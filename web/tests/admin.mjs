// An admin manages the staff accounts in real headless Chromium (Debian's, driven by playwright-core):
//
//   node tests/admin.mjs http://127.0.0.1:8080 /path/to/artefacts ADMIN PASSWORD REVIEWER PASSWORD
//
// Signs in on /map/admin.html, finds the accounts the API lists (their own account's button
// disabled), adds a planner without a password (the page shows the one the server made up, and
// it logs in) and a reviewer of a centre with a chosen password, is told by name why a reviewer
// without a centre is refused, disables the planner (who then cannot log in) and sees it
// disabled; a reviewer who signs in there is told the page is for admins. Screenshots (desk and
// phone) go to the artefacts folder. Prints a JSON summary; exits 1 on the first failure.

import { join } from "node:path";
import { check, launch, reportPages, scriptArguments, unnamedControls, watch } from "./browser.mjs";

const [base, artefacts, admin, adminPassword, reviewer, reviewerPassword] = scriptArguments(
  "node tests/admin.mjs BASE_URL ARTEFACTS_DIR ADMIN PASSWORD REVIEWER PASSWORD",
  6,
);

async function login(user, password) {
  const response = await fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ user, password }),
  });
  return { status: response.status, body: await response.json() };
}

async function accounts(token) {
  const response = await fetch(`${base}/admin/users`, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  check(response.ok, `GET /admin/users answered ${response.status}`);
  return (await response.json()).users;
}

const rowNames = (page) => page.$$eval("#accounts-table tbody tr[data-user]", (rows) => rows.map((r) => r.dataset.user));

const browser = await launch();
const summary = {};
try {
  const problems = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // The refused reviewer without a centre answers 400 on purpose (and Chromium logs it).
  watch(page, problems, { expected: new Set([400]), allowedConsole: (text) => text.includes("status of 400") });
  await page.goto(`${base}/map/admin.html`);
  await page.fill("#login-user", admin);
  await page.fill("#login-password", adminPassword);
  await page.press("#login-password", "Enter");
  await page.waitForSelector("#accounts-table tbody tr[data-user]");
  const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("urbis.staff.session")));
  check(session && session.role === "admin", `not signed in as an admin: ${JSON.stringify(session)}`);

  // The API's accounts, in name order; one's own cannot be disabled here.
  const listed = (await accounts(session.token)).map((u) => u.name).sort((a, b) => a.localeCompare(b));
  const shown = await rowNames(page);
  check(JSON.stringify(shown) === JSON.stringify(listed), `the page shows ${JSON.stringify(shown)}, the API ${JSON.stringify(listed)}`);
  check(await page.isDisabled(`#accounts-table tr[data-user="${admin}"] button`), "the admin's own button is not disabled");
  const unnamed = await unnamedControls(page);
  check(unnamed.length === 0, `controls without a name:\n${unnamed.join("\n")}`);
  summary.accounts = shown.length;

  // A planner without a password: the page shows the one made up, once, and it logs in.
  await page.fill("#add-name", "planner-e2e");
  await page.selectOption("#add-role", "planner");
  check(await page.isHidden("#add-centres-box"), "a planner is offered centres");
  await page.click("#add-form button[type=submit]");
  await page.waitForSelector("#new-password:not([hidden])");
  const generated = (await page.textContent("#new-password-value")).trim();
  check(generated.length >= 12, `the password shown is "${generated}"`);
  const planner = await login("planner-e2e", generated);
  check(planner.status === 200 && planner.body.role === "planner", `the shown password does not log in: ${JSON.stringify(planner)}`);
  await page.waitForSelector('#accounts-table tr[data-user="planner-e2e"]');

  // A reviewer of the first centre offered, with a chosen password.
  await page.fill("#add-name", "reviewer-e2e-2");
  await page.selectOption("#add-role", "reviewer");
  const centre = await page.getAttribute("#add-centres input[type=checkbox]", "value");
  await page.check(`#add-centres input[value="${centre}"]`);
  await page.fill("#add-password", "e2e-chosen-password-1");
  await page.click("#add-form button[type=submit]");
  await page.waitForSelector('#accounts-table tr[data-user="reviewer-e2e-2"]');
  check(await page.isHidden("#new-password"), "a chosen password is shown back");
  const second = await login("reviewer-e2e-2", "e2e-chosen-password-1");
  check(second.status === 200 && JSON.stringify(second.body.centres) === JSON.stringify([centre]), `${JSON.stringify(second)}`);

  // Refused, and told why.
  await page.fill("#add-name", "reviewer-nowhere");
  await page.selectOption("#add-role", "reviewer");
  await page.click("#add-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("add-status").classList.contains("error"));
  const refusal = await page.textContent("#add-status");
  check(/at least one service centre/.test(refusal), `the refusal says "${refusal}"`);

  // The planner disabled: the row says so, the login fails.
  await page.click('#accounts-table button[aria-label="Disable planner-e2e"]');
  await page.waitForSelector('#accounts-table tr.disabled[data-user="planner-e2e"]');
  const refused = await login("planner-e2e", generated);
  check(refused.status === 401, `a disabled account logged in: ${refused.status}`);
  await page.screenshot({ path: join(artefacts, "admin.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(artefacts, "admin-phone.png"), fullPage: true });
  check(problems.length === 0, `the page ran into:\n${problems.join("\n")}`);
  summary.added = { planner: "planner-e2e", reviewer: "reviewer-e2e-2", centre };
  summary.disabled = "planner-e2e";
  summary.refusal = refusal;

  // A reviewer is told the page is for admins.
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const reviewerPage = await other.newPage();
  await reviewerPage.goto(`${base}/map/admin.html`);
  await reviewerPage.fill("#login-user", reviewer);
  await reviewerPage.fill("#login-password", reviewerPassword);
  await reviewerPage.press("#login-password", "Enter");
  await reviewerPage.waitForSelector("#denied-view:not([hidden])");
  check(await reviewerPage.isHidden("#accounts-view"), "a reviewer sees the accounts");
  summary.reviewerDenied = true;
} catch (e) {
  await reportPages(browser, artefacts);
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
