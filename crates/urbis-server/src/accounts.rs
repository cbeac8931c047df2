//! Staff accounts: the rules an account follows (a role that has accounts, centres for reviewers
//! only, a usable name, a password long enough), shared by `urbis users` and the admin's routes:
//!
//! - `GET /admin/users`: every account (name, role, centres, created, disabled; never a hash).
//! - `POST /admin/users` `{name, role, centres?, password?}`: 201 with the account; without a
//!   password one is generated and shown in this answer only.
//! - `PATCH /admin/users/{name}` `{"disabled": true | false}`: disables an account (it cannot log
//!   in and its sessions stop at once) or enables it again. An admin cannot disable themself, so
//!   that the last admin cannot lock the city out by a slip.
//!
//! Only admins may call them (policy.rs). Passwords are kept only as argon2id hashes.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use urbis_core::LayerId;
use urbis_store::{Store, User};

use crate::auth::{generate_password, hash_password, Principal, Role};
use crate::{ApiError, AppState};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why an account cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("`{0}` is not a role; accounts are reviewer, planner or admin")]
    UnknownRole(String),
    #[error("`{0}` has no accounts; accounts are reviewer, planner or admin (applicants use their tracking code and secret)")]
    NotAnAccountRole(Role),
    #[error("a reviewer needs at least one service centre")]
    ReviewerWithoutCentre,
    #[error("only reviewers are bound to service centres")]
    CentresNotReviewer,
    #[error("`{0}` is not a service centre's id (see /collections/service_centres/items)")]
    UnknownCentre(String),
    #[error("`{0}`: a user name is 1 to 64 letters, digits, `.`, `-`, `_` or `@`")]
    BadName(String),
    #[error("the password needs at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
}

/// A role an account may have, with its centres checked against it (not yet against the store).
pub fn account_role(role: &str, centres: Vec<String>) -> Result<(Role, Vec<String>), AccountError> {
    let role = Role::parse_configured(role).map_err(AccountError::UnknownRole)?;
    if !Role::ACCOUNT.contains(&role) {
        return Err(AccountError::NotAnAccountRole(role));
    }
    match role {
        Role::Reviewer if centres.is_empty() => Err(AccountError::ReviewerWithoutCentre),
        Role::Reviewer => Ok((role, centres)),
        _ if !centres.is_empty() => Err(AccountError::CentresNotReviewer),
        _ => Ok((role, centres)),
    }
}

/// Every centre named is a service centre of the store.
pub async fn check_centres(store: &dyn Store, centres: &[String]) -> Result<Result<(), AccountError>, ApiError> {
    for c in centres {
        if store.get(LayerId::ServiceCentres, c).await?.is_none() {
            return Ok(Err(AccountError::UnknownCentre(c.clone())));
        }
    }
    Ok(Ok(()))
}

/// A new account, its password hashed (argon2id; a second or so of CPU in a debug build).
pub fn new_user(name: &str, role: Role, centres: Vec<String>, password: &str) -> Result<User, ApiError> {
    if !urbis_store::users::valid_name(name) {
        return Err(invalid(AccountError::BadName(name.to_string())));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(AccountError::ShortPassword));
    }
    Ok(User {
        name: name.to_string(),
        role: role.name().to_string(),
        centres,
        password_hash: hash_password(password)?,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        disabled: false,
    })
}

/// 400 naming the field at fault.
fn invalid(e: AccountError) -> ApiError {
    let parameter = match e {
        AccountError::UnknownRole(_) | AccountError::NotAnAccountRole(_) => "role",
        AccountError::ReviewerWithoutCentre | AccountError::CentresNotReviewer | AccountError::UnknownCentre(_) => {
            "centres"
        }
        AccountError::BadName(_) => "name",
        AccountError::ShortPassword => "password",
    };
    ApiError::BadParameter { parameter, message: e.to_string() }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/users", get(list).post(add)).route("/admin/users/{name}", patch(set_disabled))
}

fn shown(u: &User) -> Value {
    json!({ "name": u.name, "role": u.role, "centres": u.centres, "created": u.created, "disabled": u.disabled })
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(json!({ "users": users.iter().map(shown).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
    role: String,
    #[serde(default)]
    centres: Vec<String>,
    password: Option<String>,
}

async fn add(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let body: NewAccount = serde_json::from_slice(&body).map_err(|e| ApiError::BadParameter {
        parameter: "body",
        message: format!("expected {{\"name\", \"role\", \"centres\"?, \"password\"?}}: {e}"),
    })?;
    let (role, centres) = account_role(&body.role, body.centres).map_err(invalid)?;
    check_centres(state.store.as_ref(), &centres).await?.map_err(invalid)?;
    let generated = body.password.is_none();
    let password = body.password.unwrap_or_else(generate_password);
    let name = body.name.clone();
    let user = tokio::task::spawn_blocking(move || new_user(&name, role, centres, &password).map(|u| (u, password)))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))?;
    let (user, password) = user?;
    state.store.add_user(&user).await?;
    tracing::info!(user = %user.name, role = %user.role, "account added");
    let mut answer = shown(&user);
    if generated {
        // Shown once: only its hash is kept.
        answer["password"] = json!(password);
    }
    let location = format!("/admin/users/{}", user.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(answer)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountChange {
    disabled: bool,
}

async fn set_disabled(
    State(state): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let change: AccountChange = serde_json::from_slice(&body).map_err(|e| ApiError::BadParameter {
        parameter: "body",
        message: format!("expected {{\"disabled\": true | false}}: {e}"),
    })?;
    if change.disabled && caller.user.as_deref() == Some(name.as_str()) {
        return Err(ApiError::Conflict(format!(
            "`{name}` is your own account: another admin must disable it, so that no one locks themself out"
        )));
    }
    state.store.set_user_disabled(&name, change.disabled).await?;
    let user = state.store.get_user(&name).await?.ok_or_else(|| ApiError::NotFound(format!("no user `{name}`")))?;
    tracing::info!(user = %name, disabled = change.disabled, by = %caller.actor(), "account changed");
    Ok(Json(shown(&user)))
}

/// The admin's routes in /api.
pub fn openapi_paths() -> Value {
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let account = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "role": { "type": "string", "enum": ["reviewer", "planner", "admin"] },
        "centres": { "type": "array", "items": { "type": "string" } },
        "created": { "type": "string", "format": "date-time" }, "disabled": { "type": "boolean" } } });
    let security = json!([{ "bearerAuth": [] }]);
    json!({
        "/admin/users": {
            "get": { "summary": "every staff account (admins only; no password hashes)", "operationId": "admin_users",
                "security": security,
                "responses": { "200": { "description": "the accounts", "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "users": { "type": "array", "items": account } } } } } },
                    "401": error, "403": error } },
            "post": { "summary": "add a staff account (admins only); without a password one is generated and shown once",
                "operationId": "admin_add_user", "security": security,
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["name", "role"], "properties": {
                        "name": { "type": "string" }, "role": { "type": "string", "enum": ["reviewer", "planner", "admin"] },
                        "centres": { "type": "array", "items": { "type": "string" }, "description": "a reviewer's service centres (ids)" },
                        "password": { "type": "string", "format": "password", "minLength": MIN_PASSWORD_CHARS } } } } } },
                "responses": { "201": { "description": "the account (and the generated password, once)", "content": { "application/json": { "schema": account } } },
                    "400": error, "401": error, "403": error, "409": error } } },
        "/admin/users/{name}": { "patch": {
            "summary": "disable an account (it cannot log in; its sessions stop at once) or enable it again (admins only; not one's own)",
            "operationId": "admin_set_user_disabled", "security": security,
            "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["disabled"], "properties": { "disabled": { "type": "boolean" } } } } } },
            "responses": { "200": { "description": "the account", "content": { "application/json": { "schema": account } } },
                "400": error, "401": error, "403": error, "404": error, "409": error } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_centres_are_checked() {
        assert_eq!(account_role("reviewer", vec!["osc-a".into()]).unwrap().0, Role::Reviewer);
        assert_eq!(account_role("editor", vec![]).unwrap().0, Role::Planner);
        for (role, centres, expected) in [
            ("reviewer", vec![], AccountError::ReviewerWithoutCentre),
            ("admin", vec!["osc-a".to_string()], AccountError::CentresNotReviewer),
            ("applicant", vec![], AccountError::NotAnAccountRole(Role::Applicant)),
            ("owner", vec![], AccountError::UnknownRole("owner".into())),
        ] {
            assert_eq!(account_role(role, centres).unwrap_err(), expected, "{role}");
        }
        assert!(new_user("bad name", Role::Admin, vec![], "whatever-password").is_err());
        assert!(new_user("a.moreau", Role::Admin, vec![], "too-short").is_err());
        let u = new_user("a.moreau", Role::Admin, vec![], "whatever-password").unwrap();
        assert!(u.password_hash.starts_with("$argon2id$") && !u.password_hash.contains("whatever"));
    }
}
