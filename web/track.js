// The public tracking page: a tracking code (typed, or in the URL's hash: track.html#CODE) →
// GET /track/{code}: the procedure, the stage, the decision, the due date, the centre and the
// history with whose working days each stage took. The API serves no personal data, and this
// page shows only the fields named here.
//
// The applicant who types the dossier's secret sees the actions that apply now (as /track lists
// them): "documents supplied" and "payment made" when the dossier waits for them, the 1–5 rating
// once the result is out. The secret is sent as HTTP Basic with the tracking code, only with those
// requests and /auth/me (which names no one); it is kept in this page's memory, never stored.

import { apiRoot, escapeHtml, formatNumber, getJson } from "./common.js";

const $ = (id) => document.getElementById(id);
const STAGES = {
  received: "Received",
  in_review: "In review",
  supplement_requested: "Supplement requested from the applicant",
  supplement_received: "Supplement received",
  payment_requested: "Payment requested from the applicant",
  payment_received: "Payment received",
  decided: "Decided",
  delivered: "Result delivered",
  withdrawn: "Withdrawn",
};
const OWNERS = { city: "the city's", applicant: "the applicant's", stopped: "clock stopped" };
const STATUS = { on_time: ["green", "On time"], at_risk: ["yellow", "At risk"], overdue: ["red", "Overdue"] };
const stage = (s) => STAGES[s] || s || "—";
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—");

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
}

function fact(term, html, id = "") {
  return `<dt>${escapeHtml(term)}</dt><dd${id ? ` id="${id}"` : ""}>${html}</dd>`;
}

// The tracking code the secret was given for, and the secret (memory only).
let signedIn = null;
let current = null;

function actionStatus(text, isError = false) {
  const el = $("action-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
}

function basic(code, secret) {
  const bytes = new TextEncoder().encode(`${code}:${secret}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function showApplicant(t) {
  current = t;
  const w = t.waiting_for;
  $("waiting").textContent = !w ? "" : w.what === "payment"
    ? `The city waits for your payment${w.amount != null ? ` of ${formatNumber(w.amount, 2)}` : ""}; its clock stands still meanwhile.`
    : "The city waits for documents from you; its clock stands still meanwhile.";
  if (signedIn && signedIn.code !== t.tracking_code) signedIn = null;
  $("secret-form").hidden = !!signedIn;
  $("actions").hidden = !signedIn;
  const actions = t.applicant_actions || [];
  $("supplement-form").hidden = !actions.includes("supplement");
  $("payment-form").hidden = !actions.includes("payment");
  $("payment-amount").textContent = w && w.what === "payment" && w.amount != null ? `Amount due: ${formatNumber(w.amount, 2)}` : "";
  $("rating-form").hidden = !actions.includes("rating");
  $("no-actions").hidden = actions.length > 0;
}

async function post(path, body) {
  const response = await fetch(apiRoot + path, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: basic(signedIn.code, signedIn.secret) },
    body: JSON.stringify(body),
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    // Not JSON: the status line says it.
  }
  if (!response.ok) {
    const error = new Error((answer && answer.message) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return answer;
}

async function act(path, body, done) {
  actionStatus("Sending…");
  try {
    await post(`/track/${encodeURIComponent(current.tracking_code)}/${path}`, body);
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      signedIn = null;
      showApplicant(current);
      actionStatus("The secret was not accepted. Type it again.", true);
      $("secret").focus();
    } else {
      actionStatus(e.message, true);
    }
    return;
  }
  const code = current.tracking_code;
  await track(code, true);
  actionStatus(done);
}

$("secret-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const secret = $("secret").value.trim();
  if (!secret || !current) return;
  actionStatus("Checking the secret…");
  try {
    const me = await getJson("/auth/me", { headers: { Accept: "application/json", Authorization: basic(current.tracking_code, secret) } });
    if (me.role !== "applicant") throw Object.assign(new Error("not the applicant"), { status: 403 });
  } catch (err) {
    actionStatus(err.status === 401 || err.status === 403 ? "This secret does not open this dossier." : `The secret could not be checked: ${err.message}`, true);
    $("secret").focus();
    return;
  }
  signedIn = { code: current.tracking_code, secret };
  $("secret").value = "";
  showApplicant(current);
  actionStatus("");
  const first = $("actions").querySelector("form:not([hidden]) textarea, form:not([hidden]) input");
  if (first) first.focus();
});

$("supplement-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const note = $("supplement-note").value.trim();
  act("supplement", note ? { note } : {}, "Thank you: the documents are recorded as supplied and the city's clock runs again.");
});

$("payment-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const reference = $("payment-reference").value.trim();
  const note = $("payment-note").value.trim();
  act("payment", note ? { reference, note } : { reference }, "Thank you: the payment is recorded.");
});

$("rating-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const chosen = $("rating-form").querySelector("input[name=rating]:checked");
  if (!chosen) return;
  act("rating", { rating: Number(chosen.value) }, `Thank you for your rating (${chosen.value} of 5).`);
});

async function track(code, keepFocus = false) {
  $("result").hidden = true;
  $("verify-result").textContent = "";
  status("Looking the dossier up…");
  let t;
  try {
    t = await getJson(`/track/${encodeURIComponent(code)}`);
  } catch (e) {
    status(e.status === 404 ? `No dossier has the tracking code “${code}”. Check the code and try again.` : `The dossier could not be read: ${e.message}`, true);
    $("track-code").focus();
    return;
  }
  const c = t.clock;
  const chip = c && !c.stopped && STATUS[c.status] ? ` <span class="chip ${STATUS[c.status][0]}">${STATUS[c.status][1]}</span>` : "";
  const centre = t.centre
    ? `${escapeHtml(t.centre.name || t.centre.id)}${t.centre.address ? `, ${escapeHtml(t.centre.address)}` : ""}${t.centre.opening_hours ? ` (${escapeHtml(t.centre.opening_hours)})` : ""}`
    : "—";
  $("result-title").textContent = `Dossier ${t.tracking_code}`;
  $("summary").innerHTML = [
    fact("Procedure", escapeHtml(t.procedure && t.procedure.name ? `${t.procedure.name} (${t.procedure.code})` : (t.procedure && t.procedure.code) || "—")),
    fact("Stage", escapeHtml(stage(t.stage)), "track-stage"),
    fact("Decision", escapeHtml(t.decision ? t.decision.replaceAll("_", " ") : "—"), "track-decision"),
    fact("Received", escapeHtml(when(t.received_at))),
    fact("Due", `${escapeHtml(when(t.due_at))}${chip}`),
    fact("Decided", escapeHtml(when(t.decided_at))),
    fact("Service centre", centre),
  ].join("");
  $("stages-table").querySelector("tbody").innerHTML = (t.stages || [])
    .map((s) => `<tr><td>${escapeHtml(stage(s.stage))}</td><td>${escapeHtml(when(s.from))}</td><td>${escapeHtml(s.until ? when(s.until) : "now")}</td>
      <td class="number">${escapeHtml(s.working_days)}</td><td>${escapeHtml(OWNERS[s.whose_days] || s.whose_days)}</td></tr>`)
    .join("");
  $("history-table").querySelector("tbody").innerHTML = (t.history || [])
    .map((e) => `<tr><td class="number">${escapeHtml(e.seq)}</td><td>${escapeHtml(when(e.at))}</td><td>${escapeHtml(String(e.kind).replaceAll("_", " "))}</td><td>${escapeHtml(stage(e.stage))}</td></tr>`)
    .join("");
  $("result").hidden = false;
  $("verify").dataset.code = t.tracking_code;
  showApplicant(t);
  status("");
  if (!keepFocus) $("result-title").focus();
}

$("track-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const code = $("track-code").value.trim().toUpperCase();
  if (!code) return;
  if (decodeURIComponent(location.hash.slice(1)) === code) track(code);
  else location.hash = encodeURIComponent(code);
});

$("verify").addEventListener("click", async () => {
  const out = $("verify-result");
  out.textContent = "Checking…";
  try {
    const v = await getJson(`/track/${encodeURIComponent($("verify").dataset.code)}/verify`);
    out.textContent = v.intact ? `Intact: ${v.links} linked steps, none altered.` : `Broken: ${v.message}`;
    out.classList.toggle("error", !v.intact);
  } catch (e) {
    out.textContent = `The check failed: ${e.message}`;
    out.classList.add("error");
  }
});

function fromHash() {
  const code = decodeURIComponent(location.hash.slice(1)).trim();
  if (code) {
    $("track-code").value = code;
    track(code);
  }
}
window.addEventListener("hashchange", fromHash);
fromHash();
