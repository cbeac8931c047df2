// The public tracking page: a tracking code (typed, or in the URL's hash: track.html#CODE) →
// GET /track/{code}: the procedure, the stage, the decision, the due date, the centre and the
// history with whose working days each stage took. The API serves no personal data, and this
// page shows only the fields named here.

import { escapeHtml, getJson } from "./common.js";

const $ = (id) => document.getElementById(id);
const STAGES = {
  received: "Received",
  in_review: "In review",
  supplement_requested: "Supplement requested from the applicant",
  supplement_received: "Supplement received",
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

async function track(code) {
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
  status("");
  $("result-title").focus();
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
