// A reviewer's day end to end in real headless Chromium (Debian's, driven by playwright-core):
//
//   node tests/reviewer.mjs http://127.0.0.1:8080 /path/to/artefacts USER PASSWORD
//
// Signs in on /map/reviewer.html with the keyboard, reads the queue (checked against GET
// /dossiers with the same token: same dossiers, same order, colours), opens the most urgent
// dossier, sees its parcels drawn on the map, runs its parcel check and compares what the page
// shows with the API's stored check, moves it through the buttons the page offers (exactly the
// stage machine's allowed moves) to a decision; then, in a fresh browser context with no session,
// the public tracking page (/map/track.html) for that code shows the new stage, and neither the
// page's text nor any response it received holds the applicant's personal data; an applicant who
// types the secret of a dossier decided meanwhile rates the service there (1-5). Screenshots of
// the dossier page (desk and phone) and of the dashboard (/map/dashboard.html) go to the
// artefacts folder. Prints a JSON summary; exits 1 with the reason on the first failure.
// CHROMIUM overrides the browser.

import { join } from "node:path";
import { check, idle, launch, reportPages, scriptArguments, unnamedControls, watch } from "./browser.mjs";

const [base, artefacts, user, password] = scriptArguments(
  "node tests/reviewer.mjs BASE_URL ARTEFACTS_DIR USER PASSWORD",
  4,
);

async function api(path, token, options = {}) {
  const response = await fetch(`${base}${path}`, {
    ...options,
    headers: { Accept: "application/json", Authorization: `Bearer ${token}`, ...(options.headers || {}) },
  });
  const body = await response.json();
  check(response.ok, `${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

const browser = await launch();
const summary = {};
try {
  // --- Sign in, with the keyboard --------------------------------------------------------------
  const problems = [];
  const reviewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await reviewer.newPage();
  watch(page, problems);
  await page.goto(`${base}/map/reviewer.html`);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Password").press("Enter");
  await page.waitForSelector("#queue-table tbody tr[data-id]");
  const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("urbis.staff.session")));
  check(session && session.token && session.role, `no session kept after signing in: ${JSON.stringify(session)}`);
  summary.login = { user: session.user, role: session.role, centres: session.centres };
  check(!(await page.evaluate(() => document.body.innerText)).includes(session.token), "the token is shown on the page");
  const unnamed = await unnamedControls(page);
  check(unnamed.length === 0, `controls without a name:\n${unnamed.join("\n")}`);

  // --- The queue: the API's, in its order, with its colours ------------------------------------
  const shown = await page.evaluate(() =>
    [...document.querySelectorAll("#queue-table tbody tr[data-id]")].map((tr) => ({
      id: tr.dataset.id,
      colour: tr.dataset.colour,
      chip: tr.querySelector(".chip").textContent,
    })),
  );
  const centres = (session.centres || []).join(",");
  const expected = await api(`/dossiers?limit=25${centres ? `&centre=${encodeURIComponent(centres)}` : ""}`, session.token);
  check(expected.total > 0, "the reviewer's queue is empty: the test would prove little");
  check(
    JSON.stringify(shown.map((r) => r.id)) === JSON.stringify(expected.dossiers.map((d) => d.id)),
    `the page's queue ${JSON.stringify(shown.map((r) => r.id))} is not the API's ${JSON.stringify(expected.dossiers.map((d) => d.id))}`,
  );
  for (const [i, d] of expected.dossiers.entries()) {
    check(shown[i].colour === (d.colour || "none"), `${d.id}: shown ${shown[i].colour}, the API says ${d.colour}`);
  }
  const ranks = { red: 0, yellow: 1, green: 2, none: 3 };
  for (let i = 1; i < shown.length; i++) check(ranks[shown[i - 1].colour] <= ranks[shown[i].colour], `the queue is not most urgent first at row ${i}`);
  summary.queue = { total: expected.total, shown: shown.length, colours: [...new Set(shown.map((r) => r.colour))] };

  // --- The most urgent dossier -----------------------------------------------------------------
  const first = expected.dossiers[0];
  await page.locator(`#queue-table tbody tr[data-id="${first.id}"] a`).click();
  await page.waitForFunction((code) => document.getElementById("dossier-title").textContent.includes(code), first.tracking_code);
  check((await page.evaluate(() => document.activeElement.id)) === "dossier-title", "the dossier's heading does not take the focus");
  await idle(page);
  const drawn = await page.evaluate(() => new Set(window.urbisMap.queryRenderedFeatures({ layers: ["dossier-parcels"] }).map((f) => f.properties.code)).size);
  check(drawn === first.parcel_codes.length, `${drawn} of the dossier's ${first.parcel_codes.length} parcels drawn on the map`);
  summary.dossier = { id: first.id, tracking_code: first.tracking_code, stage: first.stage, colour: first.colour, parcels: first.parcel_codes };

  // Its parcel check: run it from the page, then what the page shows is the stored check.
  await page.locator("#run-check").click();
  await page.waitForFunction(() => /stored with the dossier/.test(document.getElementById("status").textContent));
  const stored = await api(`/dossiers/${encodeURIComponent(first.id)}/check`, session.token);
  const checkText = await page.locator("#check").innerText();
  for (const z of stored.result.districts) check(checkText.includes(z.code), `the check's district ${z.code} is not shown: ${checkText}`);
  for (const issue of stored.result.issues) check(checkText.includes(issue), `the check's issue "${issue}" is not shown`);
  const shownIssues = await page.locator("#check-result").getAttribute("data-issues");
  check(Number(shownIssues) === stored.result.issues.length, `${shownIssues} issues shown, ${stored.result.issues.length} stored`);
  check(stored.result.districts.length > 0, "the check found no zoning district: the test would prove little");
  summary.check = { districts: stored.result.districts.map((z) => z.code), issues: stored.result.issues.length };

  // The same dossier open on a phone meanwhile: a new tab signs in again (the session is the
  // tab's), then shows the dossier its link names.
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const phone = await phoneContext.newPage();
  watch(phone, problems, { expected: new Set([409]), allowedConsole: (text) => /status of 409/.test(text) });
  await phone.goto(`${base}/map/reviewer.html#dossier=${encodeURIComponent(first.id)}`);
  await phone.getByLabel("User name").fill(user);
  await phone.getByLabel("Password").fill(password);
  await phone.getByRole("button", { name: "Sign in" }).tap();
  await phone.waitForFunction((code) => document.getElementById("dossier-title").textContent.includes(code), first.tracking_code);
  const staleOffer = await phone.evaluate(() => [...document.querySelectorAll("#transitions button")].map((b) => b.dataset.to));

  // To a decision, through the buttons offered: exactly the allowed moves each time.
  const steps = [];
  for (let i = 0; i < 4; i++) {
    const d = await api(`/dossiers/${encodeURIComponent(first.id)}`, session.token);
    const offered = await page.evaluate(() => [...document.querySelectorAll("#transitions button")].map((b) => b.dataset.to));
    check(JSON.stringify(offered) === JSON.stringify(d.allowed_transitions), `buttons ${JSON.stringify(offered)}, allowed ${JSON.stringify(d.allowed_transitions)}`);
    if (d.dossier.stage === "decided") break;
    const to = offered.includes("decided") ? "decided" : offered.includes("in_review") ? "in_review" : "supplement_received";
    check(offered.includes(to), `no way on from ${d.dossier.stage}: ${JSON.stringify(offered)}`);
    await page.getByLabel("Note (reasons, what is asked of the applicant)").fill(`e2e: ${to}`);
    if (to === "decided") await page.getByLabel("Decision").selectOption("approved_with_conditions");
    await page.locator(`#transitions button[data-to="${to}"]`).click();
    await page.waitForFunction(() => /^(Moved to|Not moved)/.test(document.getElementById("transition-status").textContent));
    const said = await page.locator("#transition-status").innerText();
    check(said.startsWith("Moved to"), `the move to ${to} failed: ${said}`);
    steps.push(to);
  }
  check(steps[steps.length - 1] === "decided", `the dossier was not decided: ${JSON.stringify(steps)}`);
  const after = await api(`/dossiers/${encodeURIComponent(first.id)}`, session.token);
  check(after.dossier.stage === "decided" && after.dossier.decision === "approved_with_conditions", `the API says ${after.dossier.stage}, ${after.dossier.decision}`);
  check((await page.locator("#dossier-stage").innerText()) === "Decided", "the page does not show the new stage");
  check(after.history.some((e) => e.note && e.note.includes("e2e: decided")), "the note was not recorded");
  summary.moves = steps;
  await idle(page);
  await page.screenshot({ path: join(artefacts, "dossier.png"), fullPage: false });

  // The phone still offers the moves of before: the first is refused (409), the page says why,
  // naming the stage the dossier is in now, and offers what is allowed from there.
  check(staleOffer.includes(steps[0]), `the phone offered ${JSON.stringify(staleOffer)} before the moves`);
  if (steps[0] === "decided") await phone.getByLabel("Decision").selectOption("approved");
  await phone.locator(`#transitions button[data-to="${steps[0]}"]`).tap();
  await phone.waitForFunction(() => /^Not moved/.test(document.getElementById("transition-status").textContent));
  const refusal = await phone.locator("#transition-status").innerText();
  check(/`decided`/.test(refusal) && /delivered/.test(refusal), `the refusal does not name the stage and the allowed moves: "${refusal}"`);
  await phone.waitForFunction(() => [...document.querySelectorAll("#transitions button")].map((b) => b.dataset.to).join() === "payment_requested,delivered");
  check((await phone.locator("#dossier-stage").innerText()) === "Decided", "the phone does not show the stage after the refusal");
  summary.refused = refusal;
  await idle(phone);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the phone page is ${overflow}px wider than the screen`);
  await phone.screenshot({ path: join(artefacts, "dossier-phone.png") });
  check(problems.length === 0, `problems on the reviewer's pages:\n${problems.join("\n")}`);

  // --- The public tracking page, as anyone: the new stage, no personal data -----------------------
  const applicant = after.dossier.applicant || {};
  // The applicant's personal data: every text they gave but the kind of applicant (a word such as
  // "business" that a procedure's name may hold as well).
  const secrets = Object.entries(applicant)
    .filter(([k, v]) => k !== "kind" && typeof v === "string" && v.length >= 4)
    .map(([, v]) => v);
  check(applicant.name && secrets.length > 0, `the dossier has no applicant to look for: ${JSON.stringify(applicant)}`);
  const publicContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const track = await publicContext.newPage();
  const publicProblems = [];
  watch(track, publicProblems);
  const bodies = [];
  track.on("response", async (r) => {
    try {
      bodies.push({ url: r.url(), text: await r.text() });
    } catch {
      // A body that is gone (a redirect): nothing to read.
    }
  });
  await track.goto(`${base}/map/track.html`);
  await track.getByLabel("Tracking code").fill(first.tracking_code);
  await track.getByLabel("Tracking code").press("Enter");
  await track.waitForFunction(() => !document.getElementById("result").hidden);
  const stageShown = await track.locator("#track-stage").innerText();
  check(stageShown === "Decided", `the tracking page shows the stage "${stageShown}"`);
  check((await track.locator("#track-decision").innerText()) === "approved with conditions", "the tracking page does not show the decision");
  // The history's hash chain, checked from the page: intact after the reviewer's moves.
  await track.getByRole("button", { name: "Check that this history is intact" }).click();
  await track.waitForFunction(() => /^(Intact|Broken|The check failed)/.test(document.getElementById("verify-result").textContent));
  const verified = await track.locator("#verify-result").innerText();
  check(verified.startsWith("Intact"), `the chain check says: ${verified}`);
  await track.waitForLoadState("networkidle");
  const text = await track.evaluate(() => document.body.innerText);
  for (const s of secrets) {
    check(!text.includes(s), `the tracking page shows the applicant's "${s}"`);
    for (const b of bodies) check(!b.text.includes(s), `${b.url} sent the applicant's "${s}" to the tracking page`);
  }
  check(!text.includes("e2e: decided"), "the tracking page shows the reviewer's note");
  check(bodies.some((b) => b.url.includes(`/track/${first.tracking_code}`)), "the tracking page did not ask /track/{code}");
  check(publicProblems.length === 0, `problems on the tracking page:\n${publicProblems.join("\n")}`);
  const trackUnnamed = await unnamedControls(track);
  check(trackUnnamed.length === 0, `controls without a name:\n${trackUnnamed.join("\n")}`);
  summary.tracking = { stage: stageShown, verified, responses: bodies.length, personal_fields_checked: secrets.length };
  await track.screenshot({ path: join(artefacts, "tracking.png") });

  // --- An applicant rates the service on the tracking page once the result is out ----------------
  // A dossier of the same procedure on the same parcels, filed for the test (its secret is
  // known only to whoever filed it) and decided through the API by the reviewer.
  const procedure = await api(`/procedures/${encodeURIComponent(after.dossier.procedure_code)}`, session.token);
  const channels = procedure.channels || [];
  const channel = !channels.length || channels.includes("online") ? "online" : channels[0];
  const rater = { name: "Ottoline Ratingtest", email: "ottoline.ratingtest@example.invalid" };
  const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const filed = await api("/dossiers", session.token, json({ procedure_code: procedure.code, parcels: after.dossier.parcel_codes,
    channel, centre_id: after.dossier.centre_id, applicant: rater }));
  for (const step of [{ to: "in_review" }, { to: "decided", decision: "approved" }]) {
    await api(`/dossiers/${encodeURIComponent(filed.tracking_code)}/transitions`, session.token, json(step));
  }
  const rate = await publicContext.newPage();
  const rateProblems = [];
  watch(rate, rateProblems);
  const rateBodies = [];
  rate.on("response", async (r) => {
    try {
      rateBodies.push({ url: r.url(), text: await r.text() });
    } catch {
      // A body that is gone: nothing to read.
    }
  });
  await rate.goto(`${base}/map/track.html#${encodeURIComponent(filed.tracking_code)}`);
  await rate.waitForFunction(() => !document.getElementById("result").hidden);
  check(await rate.locator("#rating-form").isHidden(), "the rating form is shown before the secret");
  await rate.getByLabel("The secret you received when you filed").fill(filed.secret);
  await rate.getByRole("button", { name: "Show my actions" }).click();
  await rate.waitForSelector("#rating-form:not([hidden])");
  check(await rate.locator("#supplement-form").isHidden() && await rate.locator("#payment-form").isHidden(), "actions that do not apply are offered");
  await rate.getByLabel("5", { exact: true }).check();
  await rate.getByRole("button", { name: "Rate the service" }).click();
  await rate.waitForFunction(() => {
    const said = document.getElementById("action-status").textContent;
    return said !== "" && !said.startsWith("Sending");
  });
  const thanked = await rate.locator("#action-status").innerText();
  check(thanked.startsWith("Thank you for your rating (5 of 5)"), `the rating was not taken: "${thanked}"`);
  check(await rate.locator("#rating-form").isHidden(), "the rating form is still offered after the rating");
  const record = await (await fetch(`${base}/track/${encodeURIComponent(filed.tracking_code)}`)).json();
  check(JSON.stringify(record.applicant_actions) === "[]", `after the rating, /track offers ${JSON.stringify(record.applicant_actions)}`);
  const rateText = await rate.evaluate(() => document.body.innerText);
  for (const s of [rater.name, rater.email, filed.secret]) {
    check(!rateText.includes(s), `the tracking page shows "${s}" to the applicant`);
    for (const b of rateBodies) check(!b.text.includes(s), `${b.url} sent "${s}" to the tracking page`);
  }
  check(rateProblems.length === 0, `problems on the tracking page while rating:\n${rateProblems.join("\n")}`);
  const rateUnnamed = await unnamedControls(rate);
  check(rateUnnamed.length === 0, `controls without a name:\n${rateUnnamed.join("\n")}`);
  summary.rating = { tracking_code: filed.tracking_code, rated: 5, said: thanked };
  await rate.screenshot({ path: join(artefacts, "rating.png") });

  // --- The dashboard, for the leadership -----------------------------------------------------
  const board = await publicContext.newPage({ viewport: { width: 1280, height: 900 } });
  const boardProblems = [];
  watch(board, boardProblems);
  await board.goto(`${base}/map/dashboard.html`);
  await board.waitForSelector("#centres-table tbody tr");
  await idle(board);
  await board.screenshot({ path: join(artefacts, "dashboard.png") });
  check(boardProblems.length === 0, `problems on the dashboard:\n${boardProblems.join("\n")}`);
  summary.dashboard = { rows: await board.locator("#centres-table tbody tr").count() };
} catch (e) {
  await reportPages(browser, artefacts);
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
