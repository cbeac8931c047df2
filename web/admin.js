// The admins' page of accounts: sign in (staff.js), the accounts (GET /admin/users) with a button
// to disable or enable each (PATCH /admin/users/{name}; not one's own), and a form that adds one
// (POST /admin/users; a password left empty is made up by the server and shown here once).

import { escapeHtml } from "./common.js";
import { api, session, wireSession } from "./staff.js";

const $ = (id) => document.getElementById(id);
const ROLE_WORDS = { reviewer: "Reviewer", planner: "Planner", admin: "Admin" };

function status(text, isError = false, target = "status") {
  const el = $(target);
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
}

wireSession({ status: (text, isError) => status(text, isError), route: () => route() });

function show(view) {
  for (const id of ["login-view", "accounts-view", "denied-view"]) $(id).hidden = id !== view;
  const s = session();
  $("who").hidden = !s;
  if (s) $("who-text").textContent = `${s.user || "token"} (${s.role})`;
}

async function route() {
  const s = session();
  if (!s) {
    show("login-view");
    $("login-user").focus();
    return;
  }
  if (s.role !== "admin") {
    show("denied-view");
    return;
  }
  show("accounts-view");
  await Promise.all([showAccounts(), loadCentres()]);
}

// --- The accounts -----------------------------------------------------------------------------
const dateOf = (iso) => (iso ? String(iso).slice(0, 10) : "—");

async function showAccounts() {
  let users;
  try {
    ({ users } = await api("/admin/users"));
  } catch (err) {
    status(`The accounts could not be read: ${err.message}`, true);
    return;
  }
  const me = session() && session().user;
  users.sort((a, b) => a.name.localeCompare(b.name));
  $("accounts-table").querySelector("tbody").innerHTML = users
    .map((u) => {
      const own = u.name === me;
      const action = u.disabled ? "Enable" : "Disable";
      const button = own
        ? `<button type="button" class="secondary" disabled title="Another admin must disable your own account">${action}</button>`
        : `<button type="button" class="secondary" data-user="${escapeHtml(u.name)}" data-disable="${!u.disabled}" aria-label="${action} ${escapeHtml(u.name)}">${action}</button>`;
      return `<tr data-user="${escapeHtml(u.name)}" class="${u.disabled ? "disabled" : ""}">
        <th scope="row">${escapeHtml(u.name)}${own ? " (you)" : ""}</th>
        <td>${escapeHtml(ROLE_WORDS[u.role] || u.role)}</td>
        <td>${escapeHtml((u.centres || []).join(", ") || "—")}</td>
        <td>${escapeHtml(dateOf(u.created))}</td>
        <td>${u.disabled ? "Disabled" : "Active"}</td>
        <td>${button}</td></tr>`;
    })
    .join("");
  status(`${users.length} account${users.length === 1 ? "" : "s"}.`);
}

$("accounts-table").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-user]");
  if (!button) return;
  const name = button.dataset.user;
  const disabled = button.dataset.disable === "true";
  button.disabled = true;
  try {
    await api(`/admin/users/${encodeURIComponent(name)}`, { method: "PATCH", body: { disabled } });
    await showAccounts();
    status(disabled ? `${name} is disabled: they cannot sign in, and their sessions have ended.` : `${name} is enabled again.`);
    const again = document.querySelector(`#accounts-table button[data-user="${CSS.escape(name)}"]`);
    if (again) again.focus();
  } catch (err) {
    button.disabled = false;
    status(`${name} was not changed: ${err.message}`, true);
  }
});

// --- Adding one ---------------------------------------------------------------------------------
let centresLoaded = false;

async function loadCentres() {
  if (centresLoaded) return;
  try {
    const centres = await api("/collections/service_centres/items?limit=1000");
    const listed = centres.features
      .filter((f) => f.properties.one_stop === true || f.properties.one_stop === 1)
      .sort((a, b) => String(a.properties.name || a.id).localeCompare(String(b.properties.name || b.id)));
    $("add-centres").innerHTML = listed
      .map(
        (f) => `<label><input type="checkbox" name="centre" value="${escapeHtml(f.id)}"> ${escapeHtml(f.properties.name || f.id)}</label>`,
      )
      .join("");
    centresLoaded = true;
  } catch (err) {
    status(`The service centres could not be read: ${err.message}`, true);
  }
}

function roleChanged() {
  $("add-centres-box").hidden = $("add-role").value !== "reviewer";
}
$("add-role").addEventListener("change", roleChanged);
roleChanged();

$("add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("new-password").hidden = true;
  const role = $("add-role").value;
  const body = { name: $("add-name").value.trim(), role };
  if (role === "reviewer") body.centres = [...document.querySelectorAll("#add-centres input:checked")].map((c) => c.value);
  if ($("add-password").value) body.password = $("add-password").value;
  status("Adding…", false, "add-status");
  try {
    const added = await api("/admin/users", { method: "POST", body });
    $("add-form").reset();
    roleChanged();
    status(`${added.name} was added as ${ROLE_WORDS[added.role] || added.role}.`, false, "add-status");
    if (added.password) {
      $("new-password-user").textContent = added.name;
      $("new-password-value").textContent = added.password;
      $("new-password").hidden = false;
    }
    await showAccounts();
  } catch (err) {
    status(`Not added: ${err.message}`, true, "add-status");
    $("add-name").focus();
  }
});

route();
