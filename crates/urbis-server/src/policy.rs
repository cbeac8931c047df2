//! The one policy table: for every route (method and axum path pattern), the roles that may
//! call it, whether it is about one dossier (then a reviewer only of that dossier's centre, an
//! applicant only of that dossier), and the roles that see the applicant's personal data there.
//!
//! [`enforce`] applies it to every request: it finds who is calling (`auth.rs`), answers 401
//! when the route needs credentials and none (or bad ones) came, 403 when the role may not, and
//! hands the caller to the handler. A route that is missing from the table is refused for
//! everyone (500 in debug builds, so that every test touching it fails and names it; 403 in
//! release, with an error in the log): a new route cannot be public by accident.
//! The dossier-level part (which centre, whose dossier) needs the dossier, so the handlers ask
//! [`dossier_access`] once they have read it.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use urbis_core::Feature;

use crate::auth::{Principal, Role};
use crate::{ApiError, AppState};

use Role::{Admin, Anonymous, Applicant, Planner, Reviewer};

/// Any caller, with or without credentials.
pub const EVERYONE: &[Role] = &[Anonymous, Applicant, Reviewer, Planner, Admin];
/// Any caller with valid credentials.
pub const SIGNED_IN: &[Role] = &[Applicant, Reviewer, Planner, Admin];
/// Who reads a dossier: its applicant, its centre's reviewers, planners (no personal data), admins.
pub const DOSSIER_READERS: &[Role] = &[Applicant, Reviewer, Planner, Admin];
/// Who works a dossier: its centre's reviewers and admins.
pub const DOSSIER_WORKERS: &[Role] = &[Reviewer, Admin];
/// Who sees the applicant's personal data where a route shows it (its own applicant, reviewers
/// of its centre, admins).
pub const PERSONAL: &[Role] = &[Applicant, Reviewer, Admin];
/// Nobody sees personal data here.
pub const NONE: &[Role] = &[];
/// Who edits layers and writes analyses.
pub const EDITORS: &[Role] = &[Planner, Admin];
pub const ADMINS: &[Role] = &[Admin];

/// Whether a route acts on one dossier, named by its `{id}` (or tracking `{code}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No narrowing beyond the roles.
    Any,
    /// Reviewers only for the dossier's centre, applicants only for their own dossier.
    Dossier,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    /// The axum route pattern, as registered.
    pub path: &'static str,
    pub roles: &'static [Role],
    pub scope: Scope,
    /// The roles that see personal data in the answer (within the scope).
    pub personal: &'static [Role],
    /// What the row does not say by itself.
    pub note: &'static str,
}

const fn public(method: &'static str, path: &'static str) -> Rule {
    Rule { method, path, roles: EVERYONE, scope: Scope::Any, personal: NONE, note: "" }
}

const fn only(method: &'static str, path: &'static str, roles: &'static [Role]) -> Rule {
    Rule { method, path, roles, scope: Scope::Any, personal: NONE, note: "" }
}

const fn dossier(method: &'static str, path: &'static str, roles: &'static [Role], personal: &'static [Role]) -> Rule {
    Rule { method, path, roles, scope: Scope::Dossier, personal, note: "" }
}

const fn noted(rule: Rule, note: &'static str) -> Rule {
    Rule { note, ..rule }
}

/// What the Part 4 rows do not say by themselves.
const PART4: &str = "permits and permit_events: admin only (dossiers change through /dossiers/{id}/transitions)";

/// Every route of the server. Keep it sorted by module, as `lib.rs` merges them.
pub const POLICY: &[Rule] = &[
    // lib.rs
    public("GET", "/"),
    public("GET", "/health"),
    public("GET", "/layers"),
    // auth.rs
    public("POST", "/auth/login"),
    only("GET", "/auth/me", SIGNED_IN),
    // accounts.rs
    only("GET", "/admin/users", ADMINS),
    only("POST", "/admin/users", ADMINS),
    noted(only("PATCH", "/admin/users/{name}", ADMINS), "not one's own account to disable (409)"),
    // features.rs: OGC API Features. Private fields (the applicant) are never served here.
    public("GET", "/api"),
    public("GET", "/conformance"),
    public("GET", "/collections"),
    public("GET", "/collections/{id}"),
    public("GET", "/collections/{id}/items"),
    public("GET", "/collections/{id}/items/{feature_id}"),
    // analysis.rs
    noted(public("POST", "/analysis/coverage"), "running is open to all (one run at a time, 8 queued at most, then 503); `\"write\": true` needs planner or admin"),
    public("GET", "/analysis/jobs/{id}"),
    public("GET", "/analysis/jobs/{id}/events"),
    public("GET", "/analysis/jobs/{id}/result"),
    public("GET", "/analysis/jobs/{id}/features"),
    // spatial.rs: read-only queries, also those posted.
    public("GET", "/query/at"),
    public("GET", "/query/within"),
    public("POST", "/query/within"),
    public("GET", "/query/nearest"),
    public("POST", "/query/intersects"),
    // report.rs, queryables.rs
    public("GET", "/parcels/{id}/report"),
    public("GET", "/collections/{id}/queryables"),
    // transactions.rs: OGC API Features Part 4.
    noted(only("POST", "/collections/{id}/items", EDITORS), PART4),
    noted(only("PUT", "/collections/{id}/items/{feature_id}", EDITORS), PART4),
    noted(only("PATCH", "/collections/{id}/items/{feature_id}", EDITORS), PART4),
    noted(only("DELETE", "/collections/{id}/items/{feature_id}", EDITORS), PART4),
    // permits.rs
    public("GET", "/procedures"),
    only("POST", "/procedures", ADMINS),
    public("GET", "/procedures/{code}"),
    only("PUT", "/procedures/{code}", ADMINS),
    noted(
        public("POST", "/dossiers"),
        "online: anyone; `counter` and `phone`: a reviewer (of the receiving centre) or an admin",
    ),
    dossier("GET", "/dossiers/{id}", DOSSIER_READERS, PERSONAL),
    dossier("POST", "/dossiers/{id}/transitions", DOSSIER_WORKERS, NONE),
    dossier("GET", "/dossiers/{id}/check", DOSSIER_READERS, NONE),
    dossier("POST", "/dossiers/{id}/check", DOSSIER_WORKERS, NONE),
    public("GET", "/track/{code}"),
    public("GET", "/track/{code}/verify"),
    noted(
        dossier("POST", "/track/{code}/supplement", &[Applicant], NONE),
        "its applicant: the documents asked for are supplied (409 unless supplement_requested)",
    ),
    noted(
        dossier("POST", "/track/{code}/payment", &[Applicant], NONE),
        "its applicant: the payment asked for is made (409 unless payment_requested)",
    ),
    dossier("POST", "/track/{code}/rating", &[Applicant], NONE),
    // queue.rs: the reviewers' queue (no personal data).
    only("GET", "/dossiers", DOSSIER_WORKERS),
    // open311.rs: GeoReport v2. GETs never show personal data.
    public("GET", "/open311/v2/discovery.{format}"),
    public("GET", "/open311/v2/services.{format}"),
    public("GET", "/open311/v2/services/{code}"),
    public("GET", "/open311/v2/requests.{format}"),
    noted(
        public("POST", "/open311/v2/requests.{format}"),
        "as POST /dossiers; a staff `api_key` for counter and phone",
    ),
    public("GET", "/open311/v2/requests/{id}"),
    // blds.rs: open data, no personal data.
    public("GET", "/permits/blds.csv"),
    public("GET", "/permits/blds.geojson"),
    public("GET", "/permits/blds-status.csv"),
    // dashboard.rs
    public("GET", "/dashboard"),
    public("GET", "/dashboard/centres.geojson"),
    // tiles.rs: the permits layer's tiles carry no personal data.
    public("GET", "/tiles/{layers}"),
    public("GET", "/tiles/{layers}/{z}/{x}/{y}"),
    public("GET", "/tileMatrixSets"),
    public("GET", "/tileMatrixSets/{tms}"),
    public("GET", "/collections/{id}/tiles"),
    public("GET", "/collections/{id}/tiles/{tms}"),
    public("GET", "/collections/{id}/tiles/{tms}/{z}/{y}/{x}"),
    // web.rs with styles.rs, sprite.rs, glyphs.rs
    public("GET", "/styles"),
    public("GET", "/styles/{file}"),
    public("GET", "/styles/sprite/{file}"),
    public("GET", "/fonts"),
    public("GET", "/fonts/{stack}/{range}"),
    public("GET", "/map"),
    public("GET", "/map/"),
    public("GET", "/map/{*path}"),
];

/// The row for a request (HEAD as GET).
pub fn rule(method: &Method, path: &str) -> Option<&'static Rule> {
    // By method and route, looked up on every request: a map made once.
    static RULES: std::sync::LazyLock<std::collections::HashMap<(&'static str, &'static str), &'static Rule>> =
        std::sync::LazyLock::new(|| {
            let mut rules = std::collections::HashMap::new();
            for r in POLICY {
                rules.entry((r.method, r.path)).or_insert(r);
            }
            rules
        });
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    RULES.get(&(method, path)).copied()
}

/// 401 or 403 for a caller whose role may not.
fn refusal(who: &Principal, what: &str, roles: &[Role]) -> ApiError {
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    if !who.authenticated {
        ApiError::Unauthorized(format!(
            "{what} needs credentials ({}): send `Authorization: Bearer <token>`",
            names.join(", ")
        ))
    } else {
        let verb = if roles == EDITORS { "edit" } else { "do this" };
        ApiError::Forbidden(format!("the role `{}` may not {verb}: {what} is for {}", who.role, names.join(", ")))
    }
}

/// The middleware: who is calling, and whether their role may call this route.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(matched) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    let path = matched.as_str();
    let Some(rule) = rule(request.method(), path) else {
        // A method the route does not take: axum answers 405 (`policy::tests` checks that every
        // method a route takes has its row).
        if POLICY.iter().any(|r| r.path == path) {
            return next.run(request).await;
        }
        tracing::error!(method = %request.method(), route = %path, "a route missing from the policy table was called");
        let message = format!("{} {path} is not in the policy table (policy.rs)", request.method());
        return if cfg!(debug_assertions) {
            ApiError::Internal(message).into_response()
        } else {
            ApiError::Forbidden("this route is not open to anyone".into()).into_response()
        };
    };
    let who = match state.auth.authenticate(state.store.as_ref(), request.headers()).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    if !rule.roles.contains(&who.role) {
        return refusal(&who, &format!("{} {}", rule.method, rule.path), rule.roles).into_response();
    }
    request.extensions_mut().insert(who);
    next.run(request).await
}

/// What a caller may do with one dossier, for handlers of [`Scope::Dossier`] routes: `Ok(true)`
/// when the answer may show the applicant's personal data, `Ok(false)` when not, 403 when the
/// caller may not touch this dossier at all (a reviewer of another centre, another dossier's
/// applicant).
pub fn dossier_access(who: &Principal, method: &Method, path: &str, dossier: &Feature) -> Result<bool, ApiError> {
    let rule =
        rule(method, path).ok_or_else(|| ApiError::Internal(format!("{method} {path} is not in the policy table")))?;
    if !rule.roles.contains(&who.role) {
        return Err(refusal(who, &format!("{} {}", rule.method, rule.path), rule.roles));
    }
    let centre = dossier.text("centre_id");
    let in_scope = match who.role {
        Role::Applicant => who.dossier.as_deref() == Some(dossier.id.as_str()),
        Role::Reviewer => who.reviews(centre),
        Role::Planner | Role::Admin => true,
        Role::Anonymous => rule.scope == Scope::Any,
    };
    if !in_scope && rule.scope == Scope::Dossier {
        return Err(ApiError::Forbidden(match who.role {
            Role::Reviewer => format!(
                "dossier `{}` belongs to centre `{}`; your centres are {}",
                dossier.id,
                centre.unwrap_or("none"),
                who.centres.join(", ")
            ),
            _ => format!("these credentials are for another dossier than `{}`", dossier.id),
        }));
    }
    Ok(in_scope && rule.personal.contains(&who.role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_unique_and_says_something() {
        for (i, a) in POLICY.iter().enumerate() {
            assert!(!a.roles.is_empty(), "{} {}: nobody may call it", a.method, a.path);
            assert!(a.personal.iter().all(|r| a.roles.contains(r)), "{} {}", a.method, a.path);
            assert!(
                a.personal.is_empty() || a.scope == Scope::Dossier,
                "{} {}: personal data only on dossier routes",
                a.method,
                a.path
            );
            for b in &POLICY[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{} {} twice", a.method, a.path);
            }
        }
    }

    /// The methods a `.route(…)` call registers: `get(`, `post(`, … not called as methods.
    fn methods_of(call: &str) -> Vec<&'static str> {
        let mut out = vec![];
        for (name, method) in
            [("get(", "GET"), ("post(", "POST"), ("put(", "PUT"), ("patch(", "PATCH"), ("delete(", "DELETE")]
        {
            for (at, _) in call.match_indices(name) {
                // `get(…)`, `routing::get(…)` and `….post(…)` chained on a method router
                // (after `)`), not `jobs.get(…)` on some value.
                let mut back = call[..at].chars().rev();
                let before = back.next().unwrap_or(' ');
                let chained = before == '.' && back.next() == Some(')');
                let free = !(before.is_alphanumeric() || before == '_' || before == '.');
                if (free || chained) && !out.contains(&method) {
                    out.push(method);
                }
            }
        }
        out
    }

    /// The text of a call from its opening parenthesis to the matching one.
    fn call_at(text: &str) -> &str {
        let mut depth = 0usize;
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return &text[..=i];
                    }
                }
                _ => {}
            }
        }
        text
    }

    #[test]
    fn methods_are_read_from_route_calls() {
        assert_eq!(methods_of(r#"("/a", get(list).post(create))"#), ["GET", "POST"]);
        assert_eq!(methods_of(r#"("/a", axum::routing::post(intake))"#), ["POST"]);
        assert_eq!(methods_of(r#"("/a", get(move |id| jobs.get(id)))"#), ["GET"]);
        assert_eq!(methods_of(r#"("/a", put(r).patch(u).delete(d))"#), ["PUT", "PATCH", "DELETE"]);
    }

    /// The other half of "no route escapes the table": every path and method registered with
    /// `.route(` in this crate's sources has a row (the middleware refuses a path without any).
    #[test]
    fn every_registered_route_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = vec![];
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs") || path.ends_with("policy.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices(".route(") {
                let call = call_at(&text[at + ".route".len()..]);
                let Some(rest) = call[1..].trim_start().strip_prefix('"') else { continue };
                let Some(end) = rest.find('"') else { continue };
                let route = &rest[..end];
                let methods = methods_of(call);
                assert!(!methods.is_empty(), "{}: {route}: no method found in {call}", path.display());
                for method in methods {
                    if !POLICY.iter().any(|r| r.path == route && r.method == method) {
                        missing.push(format!("{}: {method} {route}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "routes without a row in POLICY: {missing:#?}");
    }
}
