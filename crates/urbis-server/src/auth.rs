//! Who is calling: the roles of urbis and the three ways to prove one.
//!
//! - Staff log in with a name and password (`POST /auth/login`, accounts in the store's
//!   `urbis_users`, passwords as argon2id hashes) and get a signed session (a JWT, HS256) to send
//!   as `Authorization: Bearer <token>`. Argon2 runs only at login.
//! - Automation uses tokens from the server's configuration, `ROLE:TOKEN` (`planner:…`,
//!   `admin:…`, `reviewer@CENTRE[+CENTRE…]:…`), kept only as argon2 hashes; a token presented is
//!   checked against them once and the answer remembered by the token's SHA-256 digest.
//! - An applicant shows the dossier's tracking code and secret, as HTTP Basic
//!   (`Authorization: Basic base64(CODE:SECRET)`), or logs in with them as user and password.
//!
//! What each role may do is the policy table's business (`policy.rs`); this module only says who.
//!
//! Logins are limited ([`LoginLimiter`]): after [`LOGIN_FAILURES`] failures within
//! [`LOGIN_WINDOW`] from one client address, or [`LOGIN_FAILURES_PER_NAME`] for one user name from
//! all addresses together, `POST /auth/login` answers 429 with `Retry-After` until the oldest of
//! them is a window old (so one address alone cannot lock a colleague out, and guesses spread
//! over many addresses are still slowed). The count is kept in memory, per server process
//! (servers behind one balancer each keep their own; a restart forgets). Behind a reverse proxy
//! the client is the address the proxy names in `X-Forwarded-For`, when the proxy's own address
//! is configured as trusted ([`Auth::with_trusted_proxies`]); otherwise the TCP peer.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use urbis_core::LayerId;
use urbis_store::{AttributeFilter, Comparison, Query, Store};

use crate::{ApiError, AppState};

/// The shortest configured token accepted: shorter ones are too easy to guess.
pub const MIN_TOKEN_CHARS: usize = 16;
/// The shortest JWT secret accepted from the configuration.
pub const MIN_JWT_SECRET_CHARS: usize = 32;
/// How long a session from `POST /auth/login` lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The answer to every failed login: never which part was wrong.
const BAD_LOGIN: &str = "wrong user name or password, or the account is disabled";

/// What a caller is, for the policy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// No credentials (or a configured `viewer` token): public reads, online intake.
    Anonymous,
    /// A dossier's tracking code and secret: that one dossier, with its own personal data.
    Applicant,
    /// Bound to one or more service centres: their dossiers with personal data, checks, stages.
    Reviewer,
    /// Edits layers (OGC API Features Part 4), writes coverage analyses; dossiers without
    /// personal data.
    Planner,
    /// Everything: the procedure catalogue, users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Anonymous, Role::Applicant, Role::Reviewer, Role::Planner, Role::Admin];
    /// The roles an account in the store may have.
    pub const ACCOUNT: [Role; 3] = [Role::Reviewer, Role::Planner, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::Applicant => "applicant",
            Role::Reviewer => "reviewer",
            Role::Planner => "planner",
            Role::Admin => "admin",
        }
    }

    /// Whether the role edits layers (Part 4) and writes analyses.
    pub fn may_edit(self) -> bool {
        matches!(self, Role::Planner | Role::Admin)
    }

    /// A role as an account or a configured token names it. `editor` is the old name of
    /// `planner` (accepted, with a warning in the log), `viewer` a reader with no more rights than
    /// anyone's.
    pub fn parse_configured(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "editor" => {
                tracing::warn!("the role `editor` is deprecated: it is now called `planner`");
                Ok(Role::Planner)
            }
            "viewer" => Ok(Role::Anonymous),
            other => other.parse(),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.name() == s.trim().to_ascii_lowercase()).ok_or_else(|| s.to_string())
    }
}

/// Who is calling, as the policy and the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub role: Role,
    /// The account's name, `token <n>` for a configured token, the tracking code for an
    /// applicant; none for the anonymous.
    pub user: Option<String>,
    /// A reviewer's service centres (ids).
    pub centres: Vec<String>,
    /// An applicant's dossier (its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dossier: Option<String>,
    /// Whether credentials were shown (a `viewer` token is, and is still anonymous): decides
    /// 401 or 403 when the role may not.
    #[serde(skip)]
    pub authenticated: bool,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal { role: Role::Anonymous, user: None, centres: vec![], dossier: None, authenticated: false }
    }

    /// Whether this caller is a reviewer of `centre`.
    pub fn reviews(&self, centre: Option<&str>) -> bool {
        self.role == Role::Reviewer && centre.is_some_and(|c| self.centres.iter().any(|m| m == c))
    }

    /// How an event names the one who acted: `reviewer:a.moreau`, `admin:token 2`, …
    pub fn actor(&self) -> String {
        match &self.user {
            Some(u) => format!("{}:{u}", self.role),
            None => self.role.to_string(),
        }
    }
}

/// Handlers take the caller as an argument; the policy middleware (`policy.rs`) put it there.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        // A router built without the middleware (never ours): authenticate here.
        state.auth.authenticate(state.store.as_ref(), &parts.headers).await
    }
}

/// A token in the configuration that cannot be used. The messages never repeat the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("token {index}: expected ROLE:TOKEN, e.g. planner:… or reviewer@CENTRE+CENTRE:… (the roles are admin, planner, reviewer, viewer)")]
    Malformed { index: usize },
    #[error("token {index}: `{role}` is not a role; the roles are admin, planner (editor), reviewer@CENTRE, viewer")]
    UnknownRole { index: usize, role: String },
    #[error("token {index}: a reviewer's token names its centres: reviewer@CENTRE[+CENTRE…]:TOKEN")]
    NoCentres { index: usize },
    #[error("token {index} ({role}): only a reviewer's token names centres")]
    CentresNotReviewer { index: usize, role: Role },
    #[error("token {index} ({role}): a token needs at least {MIN_TOKEN_CHARS} characters")]
    TooShort { index: usize, role: Role },
    #[error("token {index} ({role}): a token may not hold spaces or control characters")]
    BadCharacters { index: usize, role: Role },
    #[error("token {index} ({role}): the same token is configured twice")]
    Duplicate { index: usize, role: Role },
    #[error("token {index} ({role}): not an argon2 hash: {reason}")]
    BadHash { index: usize, role: Role, reason: String },
    #[error("the JWT secret needs at least {MIN_JWT_SECRET_CHARS} characters")]
    ShortJwtSecret,
}

/// A configured token: its argon2 hash and what it stands for.
#[derive(Clone)]
struct ConfiguredToken {
    hash: String,
    principal: Principal,
}

/// The argon2 checks done: (SHA-256 digest of a presented token, a configured token's hash) →
/// whether they match. Shared by every server in the process, so that a test that builds many
/// routers with the same tokens pays argon2 once per pair.
static CHECKED: LazyLock<Mutex<HashMap<CheckedPair, bool>>> = LazyLock::new(Default::default);
/// (SHA-256 digest of a presented token, a configured token's argon2 hash).
type CheckedPair = ([u8; 32], String);
/// Forget the misses past this many pairs (a client trying random tokens), so memory stays bounded.
const MAX_REMEMBERED: usize = 100_000;

/// The claims of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(default)]
    centres: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dossier: Option<String>,
    iat: i64,
    exp: i64,
}

/// Failed logins allowed from one client address within [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: usize = 5;
/// Failed logins allowed for one user name within [`LOGIN_WINDOW`], from all addresses together:
/// more than one address may make, so that one address cannot lock the name.
pub const LOGIN_FAILURES_PER_NAME: usize = 4 * LOGIN_FAILURES;
/// The window failed logins are counted in.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Most user names and addresses remembered; past this, those whose failures are all a window
/// old are forgotten, and if that is not enough, every one (a flood of names must not fill memory).
const MAX_LOGIN_KEYS: usize = 50_000;

/// What is counted: a user name, or a client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LoginKey {
    User(String),
    Address(IpAddr),
}

/// Failed logins per user name and per client address, in memory (per server process). An
/// attempt counts as a failure from its start, so that concurrent guesses cannot slip past the
/// limit while their passwords are being checked; a success takes it back.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<LoginKey, VecDeque<Instant>>>,
}

/// An attempt the limiter let through, to be settled as a success or left as a failure.
pub struct LoginAttempt {
    keys: Vec<LoginKey>,
}

impl LoginLimiter {
    /// Starts an attempt by `user` from `address`: `Err(wait)` when the address has had
    /// [`LOGIN_FAILURES`] failures within the window, or the name [`LOGIN_FAILURES_PER_NAME`]
    /// (`wait`: until the oldest leaves it).
    pub fn begin(&self, user: &str, address: Option<IpAddr>, now: Instant) -> Result<LoginAttempt, Duration> {
        let user: String = user.trim().chars().take(128).collect();
        let mut keys = vec![LoginKey::User(user)];
        keys.extend(address.map(LoginKey::Address));
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(times) = map.get_mut(key) {
                while times.front().is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW) {
                    times.pop_front();
                }
                let limit = match key {
                    LoginKey::User(_) => LOGIN_FAILURES_PER_NAME,
                    LoginKey::Address(_) => LOGIN_FAILURES,
                };
                if times.len() >= limit {
                    let oldest = times[times.len() - limit];
                    wait = wait.max(LOGIN_WINDOW.saturating_sub(now.duration_since(oldest)));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if map.len() + keys.len() > MAX_LOGIN_KEYS {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW));
            if map.len() + keys.len() > MAX_LOGIN_KEYS {
                map.clear();
            }
        }
        for key in &keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
        Ok(LoginAttempt { keys })
    }

    /// The attempt succeeded: the user name's failures are forgotten, and the attempt is taken
    /// back from the address's count.
    pub fn succeeded(&self, attempt: LoginAttempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in attempt.keys {
            match key {
                LoginKey::User(_) => {
                    map.remove(&key);
                }
                LoginKey::Address(_) => {
                    if let Some(times) = map.get_mut(&key) {
                        times.pop_back();
                        if times.is_empty() {
                            map.remove(&key);
                        }
                    }
                }
            }
        }
    }
}

/// How a server knows its callers: the configured tokens and the key that signs sessions.
#[derive(Clone)]
pub struct Auth {
    tokens: Vec<ConfiguredToken>,
    secret: Arc<Vec<u8>>,
    /// Whether the secret was made up at start (sessions then die with the process).
    generated_secret: bool,
    /// Failed logins, shared by the clones of this server's `Auth`.
    logins: Arc<LoginLimiter>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.tokens.iter().map(|t| t.principal.role.name()).collect();
        f.debug_struct("Auth").field("token_roles", &roles).field("generated_secret", &self.generated_secret).finish()
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth::none()
    }
}

impl Auth {
    /// No tokens, and a session key made up now.
    pub fn none() -> Auth {
        let mut secret = vec![0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Auth {
            tokens: vec![],
            secret: Arc::new(secret),
            generated_secret: true,
            logins: Arc::default(),
            trusted_proxies: Arc::default(),
        }
    }

    /// Tokens written `ROLE:TOKEN`, as the configuration holds them (the first is number 1 in
    /// errors). TOKEN may also be an argon2 PHC hash (`$argon2id$…`) of the token, so that the
    /// configuration need not hold the token itself.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Auth, AuthConfigError> {
        let mut auth = Auth::none();
        let mut seen: Vec<[u8; 32]> = vec![];
        for (i, spec) in specs.iter().enumerate() {
            let index = i + 1;
            let (role, token) = spec.as_ref().split_once(':').ok_or(AuthConfigError::Malformed { index })?;
            let (role, centres) = match role.split_once('@') {
                Some((r, c)) => (r, c.split('+').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()),
                None => (role, vec![]),
            };
            let role = Role::parse_configured(role).map_err(|role| AuthConfigError::UnknownRole { index, role })?;
            match role {
                Role::Reviewer if centres.is_empty() => return Err(AuthConfigError::NoCentres { index }),
                Role::Reviewer => {}
                Role::Applicant => return Err(AuthConfigError::UnknownRole { index, role: "applicant".into() }),
                _ if !centres.is_empty() => return Err(AuthConfigError::CentresNotReviewer { index, role }),
                _ => {}
            }
            let principal =
                Principal { role, user: Some(format!("token {index}")), centres, dossier: None, authenticated: true };
            let hash = if token.starts_with("$argon2") {
                let parsed = PasswordHash::new(token).map_err(|e| AuthConfigError::BadHash {
                    index,
                    role,
                    reason: e.to_string(),
                })?;
                if parsed.hash.is_none() || parsed.salt.is_none() {
                    let reason = "a PHC string `$argon2id$v=19$m=…,t=…,p=…$SALT$HASH`".to_string();
                    return Err(AuthConfigError::BadHash { index, role, reason });
                }
                token.to_string()
            } else {
                if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(AuthConfigError::BadCharacters { index, role });
                }
                if token.chars().count() < MIN_TOKEN_CHARS {
                    return Err(AuthConfigError::TooShort { index, role });
                }
                let d = digest(token);
                if seen.contains(&d) {
                    return Err(AuthConfigError::Duplicate { index, role });
                }
                seen.push(d);
                hash_configured_token(token)
            };
            auth.tokens.push(ConfiguredToken { hash, principal });
        }
        Ok(auth)
    }

    /// Signs sessions with `secret` (from `--jwt-secret`, `URBIS_JWT_SECRET` or `jwt_secret`), so
    /// that they survive a restart and every server sharing the secret accepts them.
    pub fn with_jwt_secret(mut self, secret: &str) -> Result<Auth, AuthConfigError> {
        if secret.chars().count() < MIN_JWT_SECRET_CHARS {
            return Err(AuthConfigError::ShortJwtSecret);
        }
        self.secret = Arc::new(secret.as_bytes().to_vec());
        self.generated_secret = false;
        Ok(self)
    }

    /// Reverse proxies in front of this server: a request from one of these addresses is counted
    /// (by the login limit, and in the log) as coming from the client its `X-Forwarded-For`
    /// names: the last address there that is not itself a trusted proxy.
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Auth {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// Whether the session key was made up at start.
    pub fn generated_secret(&self) -> bool {
        self.generated_secret
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many tokens each role has, for the start-up log.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Role::ALL
            .iter()
            .map(|r| (r, self.tokens.iter().filter(|t| t.principal.role == *r).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{n} {}", if *r == Role::Anonymous { "viewer" } else { r.name() }))
            .collect();
        if parts.is_empty() {
            "no configured tokens".into()
        } else {
            format!("tokens: {}", parts.join(", "))
        }
    }

    /// The caller behind a configured token, if it is one of ours. Argon2 runs the first time a
    /// token is seen; after that its SHA-256 digest finds the answer.
    pub fn token_principal(&self, token: &str) -> Option<Principal> {
        let d = digest(token);
        self.tokens.iter().find(|t| matches(token, &d, &t.hash)).map(|t| t.principal.clone())
    }

    /// The caller of a request (anonymous without an `Authorization` header), or 401 for
    /// credentials that are not valid. Sessions of accounts are checked against the store, so
    /// that a disabled account is out at once.
    pub async fn authenticate(&self, store: &dyn Store, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Principal::anonymous());
        };
        let value = value.to_str().map_err(|_| ApiError::Unauthorized("the credentials are not valid".into()))?;
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            return applicant_by_basic(store, credentials).await;
        }
        if !scheme.eq_ignore_ascii_case("bearer") || credentials.is_empty() {
            return Err(ApiError::Unauthorized(
                "use `Authorization: Bearer <token>` (staff) or `Authorization: Basic <code:secret>` (applicants)"
                    .into(),
            ));
        }
        if looks_like_jwt(credentials) {
            let claims = self.decode_session(credentials)?;
            return principal_of_session(store, claims).await;
        }
        let auth = self.clone();
        let token = credentials.to_string();
        tokio::task::spawn_blocking(move || auth.token_principal(&token))
            .await
            .map_err(|e| ApiError::Internal(format!("checking a token: {e}")))?
            .ok_or_else(|| ApiError::Unauthorized("the token is not valid".into()))
    }

    /// The caller behind an `Authorization` header value, without the store: configured tokens
    /// and sessions (a session's account is checked by the middleware before any handler runs).
    pub fn check(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::Unauthorized("this needs credentials: send `Authorization: Bearer <token>`".into()));
        };
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::Unauthorized("use `Authorization: Bearer <token>`".into()));
        }
        if looks_like_jwt(token) {
            let c = self.decode_session(token)?;
            return Ok(Principal {
                role: c.role,
                user: Some(c.sub),
                centres: c.centres,
                dossier: c.dossier,
                authenticated: true,
            });
        }
        self.token_principal(token).ok_or_else(|| ApiError::Unauthorized("the token is not valid".into()))
    }

    /// A signed session for `principal`, valid for `ttl`; the token and when it expires.
    pub fn issue_session(&self, principal: &Principal, ttl: Duration) -> Result<(String, DateTime<Utc>), ApiError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
        let claims = Claims {
            sub: principal.user.clone().unwrap_or_default(),
            role: principal.role,
            centres: principal.centres.clone(),
            dossier: principal.dossier.clone(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret))
                .map_err(|e| ApiError::Internal(format!("signing a session: {e}")))?;
        Ok((token, expires))
    }

    fn decode_session(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&self.secret), &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::Unauthorized("the session has expired: log in again".into())
                }
                _ => ApiError::Unauthorized("the session is not valid: log in again".into()),
            })
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// An argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(format!("a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// A configured token's hash, made once per distinct token in the process.
fn hash_configured_token(token: &str) -> String {
    static HASHED: LazyLock<Mutex<HashMap<[u8; 32], String>>> = LazyLock::new(Default::default);
    let d = digest(token);
    if let Some(h) = HASHED.lock().ok().and_then(|m| m.get(&d).cloned()) {
        return h;
    }
    // Hashing only fails on parameters out of range, and ours are argon2's defaults.
    let hash = hash_password(token).unwrap_or_default();
    if let Ok(mut m) = HASHED.lock() {
        m.insert(d, hash.clone());
    }
    if let Ok(mut m) = CHECKED.lock() {
        m.insert((d, hash.clone()), true);
    }
    hash
}

/// Whether the token with digest `d` is the one `hash` was made from, remembered.
fn matches(token: &str, d: &[u8; 32], hash: &str) -> bool {
    let key = (*d, hash.to_string());
    if let Some(known) = CHECKED.lock().ok().and_then(|m| m.get(&key).copied()) {
        return known;
    }
    let found = verify_password(token, hash);
    if let Ok(mut m) = CHECKED.lock() {
        if m.len() >= MAX_REMEMBERED {
            m.retain(|_, hit| *hit);
        }
        m.insert(key, found);
    }
    found
}

/// Whether `password` is the one `hash` (a PHC string) was made from.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A password for a new account: 20 characters from an alphabet without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect()
}

/// The caller behind a session: its account must still exist and be enabled, and its role and
/// centres are the account's now (an applicant's session stands on its dossier).
async fn principal_of_session(store: &dyn Store, claims: Claims) -> Result<Principal, ApiError> {
    if claims.role == Role::Applicant {
        return Ok(Principal {
            role: Role::Applicant,
            user: Some(claims.sub),
            centres: vec![],
            dossier: claims.dossier,
            authenticated: true,
        });
    }
    let user = store.get_user(&claims.sub).await?;
    match user {
        Some(u) if !u.disabled => {
            let role = Role::parse_configured(&u.role)
                .map_err(|r| ApiError::Internal(format!("user `{}` has an unknown role `{r}`", u.name)))?;
            Ok(Principal { role, user: Some(u.name), centres: u.centres, dossier: None, authenticated: true })
        }
        _ => Err(ApiError::Unauthorized("the session's account is disabled or gone: log in again".into())),
    }
}

/// An applicant by the tracking code and secret of a dossier, or `None`.
pub async fn applicant(store: &dyn Store, code: &str, secret: &str) -> Result<Option<Principal>, ApiError> {
    let code = code.trim();
    if code.is_empty() || code.len() > 64 || secret.is_empty() {
        return Ok(None);
    }
    let q = Query::all().filter(AttributeFilter::new("tracking_code", Comparison::Eq, code)).limit(1);
    let Some(f) = store.query(LayerId::Permits, &q).await?.pop() else {
        return Ok(None);
    };
    let stored = f.attributes.get("applicant").and_then(|a| a.get("secret_sha256")).and_then(Value::as_str);
    let given: String = Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    if stored != Some(given.as_str()) {
        return Ok(None);
    }
    Ok(Some(Principal {
        role: Role::Applicant,
        user: Some(code.to_string()),
        centres: vec![],
        dossier: Some(f.id),
        authenticated: true,
    }))
}

async fn applicant_by_basic(store: &dyn Store, credentials: &str) -> Result<Principal, ApiError> {
    let refused = || ApiError::Unauthorized("the tracking code or the secret is wrong".into());
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).map_err(|_| refused())?;
    let decoded = String::from_utf8(decoded).map_err(|_| refused())?;
    let (code, secret) = decoded.split_once(':').ok_or_else(refused)?;
    applicant(store, code, secret).await?.ok_or_else(refused)
}

// ---------------------------------------------------------------------------------------------
// The routes: login and who am I.

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/login", post(login)).route("/auth/me", get(me))
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

/// The client's address: the TCP peer when the server was started with it (`axum::serve` with
/// `into_make_service_with_connect_info`; routers driven without a socket have none), or, when
/// the peer is a trusted proxy, the client its `X-Forwarded-For` names.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddress(peer.map(|peer| client_address(peer, &parts.headers, &state.auth.trusted_proxies))))
    }
}

/// Who sent a request that reached us from `peer`: walking `X-Forwarded-For` from its end (each
/// proxy appends the address it heard from), the first address that is not a trusted proxy. A
/// client can write anything at the start of the header, so only what trusted proxies appended
/// is believed; an unreadable entry stops the walk at the last address believed.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return client;
    }
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = hops.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) => {
                client = address;
                if !trusted.contains(&address) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// 429 with `Retry-After` (whole seconds, at least 1).
fn too_many_logins(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let body = json!({ "code": "too_many_requests", "message": format!(
        "too many failed logins from this address (at most {LOGIN_FAILURES} a minute) or for this user name \
         (at most {LOGIN_FAILURES_PER_NAME}); try again in {seconds} s") });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: LoginBody = serde_json::from_slice(&body).map_err(|e| ApiError::BadParameter {
        parameter: "body",
        message: format!("expected {{\"user\": \"…\", \"password\": \"…\"}}: {e}"),
    })?;
    let attempt = match state.auth.logins.begin(&body.user, address, Instant::now()) {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(address = ?address, "a login was refused: too many failures");
            return Ok(too_many_logins(wait));
        }
    };
    let account =
        if urbis_store::users::valid_name(&body.user) { state.store.get_user(&body.user).await? } else { None };
    let principal = match account {
        Some(u) => {
            let password = body.password.clone();
            let hash = u.password_hash.clone();
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .map_err(|e| ApiError::Internal(format!("checking a password: {e}")))?;
            match Role::parse_configured(&u.role) {
                Ok(role) if ok && !u.disabled => {
                    Some(Principal { role, user: Some(u.name), centres: u.centres, dossier: None, authenticated: true })
                }
                _ => None,
            }
        }
        // No such account: a dossier's tracking code and secret log its applicant in.
        None => applicant(state.store.as_ref(), &body.user, &body.password).await?,
    };
    let Some(principal) = principal else {
        tracing::info!("a login was refused");
        return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
    };
    state.auth.logins.succeeded(attempt);
    let (token, expires) = state.auth.issue_session(&principal, SESSION_TTL)?;
    tracing::info!(user = principal.user.as_deref().unwrap_or(""), role = %principal.role, "logged in");
    let mut answer = json!({
        "token": token,
        "role": principal.role,
        "user": principal.user,
        "centres": principal.centres,
        "expires_at": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if let Some(d) = &principal.dossier {
        answer["dossier"] = json!(d);
    }
    Ok(Json(answer).into_response())
}

async fn me(who: Principal) -> Json<Value> {
    let mut answer = json!({ "role": who.role, "user": who.user, "centres": who.centres });
    if let Some(d) = &who.dossier {
        answer["dossier"] = json!(d);
    }
    Json(answer)
}

/// An extractor for Part 4 edits and analysis writes: planner or admin (the policy table says the
/// same; this is its second line).
pub struct Editor {
    pub role: Role,
    pub who: Principal,
}

impl FromRequestParts<AppState> for Editor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let who = Principal::from_request_parts(parts, state).await?;
        if !who.authenticated {
            return Err(ApiError::Unauthorized(
                "editing needs credentials: send `Authorization: Bearer <token>`".into(),
            ));
        }
        if !who.role.may_edit() {
            return Err(ApiError::Forbidden(format!(
                "the role `{}` may not edit; edits need the role `planner` or `admin`",
                who.role
            )));
        }
        Ok(Editor { role: who.role, who })
    }
}

/// The OpenAPI paths of this module and the security schemes, merged into /api by features.rs.
pub fn openapi_paths() -> Value {
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        "/auth/login": { "post": {
            "summary": "log in with a user name and password (or a dossier's tracking code and secret): a session token (JWT, HS256) for `Authorization: Bearer`",
            "operationId": "auth_login",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["user", "password"],
                "properties": { "user": { "type": "string" }, "password": { "type": "string", "format": "password" } } } } } },
            "responses": { "200": { "description": "the session", "content": { "application/json": { "schema": {
                "type": "object", "properties": { "token": { "type": "string" }, "role": { "type": "string" },
                "user": { "type": "string" }, "centres": { "type": "array", "items": { "type": "string" } },
                "expires_at": { "type": "string", "format": "date-time" } } } } } },
                "400": error, "401": error,
                "429": { "description": "too many failed logins from this address (5 a minute) or for this user name (20 a minute from all addresses), per server process; `Retry-After` says when to try again",
                    "headers": { "Retry-After": { "schema": { "type": "integer" }, "description": "seconds" } },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } } } } },
        "/auth/me": { "get": {
            "summary": "who the credentials sent are: role, user, centres", "operationId": "auth_me",
            "security": [{ "bearerAuth": [] }, { "applicantBasic": [] }],
            "responses": { "200": { "description": "the caller", "content": { "application/json": { "schema": { "type": "object" } } } },
                "401": error } } },
    })
}

/// The security schemes /api declares.
pub fn security_schemes() -> Value {
    json!({
        "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (from POST /auth/login) or a configured token",
            "description": "staff: reviewer (of service centres), planner, admin" },
        "applicantBasic": { "type": "http", "scheme": "basic",
            "description": "an applicant: the dossier's tracking code as the user, its secret as the password" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_parsed_and_errors_never_show_the_token() {
        let auth = Auth::from_specs(&[
            "editor:0123456789abcdef",
            "viewer:fedcba9876543210",
            "reviewer@osc-a+osc-b:aaaabbbbccccdddd",
        ])
        .unwrap();
        assert_eq!(auth.token_principal("0123456789abcdef").unwrap().role, Role::Planner);
        let viewer = auth.token_principal("fedcba9876543210").unwrap();
        assert_eq!((viewer.role, viewer.authenticated), (Role::Anonymous, true));
        let reviewer = auth.token_principal("aaaabbbbccccdddd").unwrap();
        assert_eq!((reviewer.role, reviewer.centres.clone()), (Role::Reviewer, vec!["osc-a".into(), "osc-b".into()]));
        assert!(reviewer.reviews(Some("osc-b")) && !reviewer.reviews(Some("osc-c")) && !reviewer.reviews(None));
        assert_eq!(auth.token_principal("0123456789abcdeF"), None);
        assert!(!format!("{auth:?}").contains("0123"), "{auth:?}");
        assert_eq!(auth.summary(), "tokens: 1 viewer, 1 reviewer, 1 planner");
        // Only argon2 hashes are kept.
        assert!(auth.tokens.iter().all(|t| t.hash.starts_with("$argon2id$")));

        for (spec, expected) in [
            ("editor", "token 1: expected ROLE:TOKEN"),
            ("owner:0123456789abcdef", "`owner` is not a role"),
            ("editor:short-secret", "at least 16 characters"),
            ("editor:0123456789 abcdef", "spaces"),
            ("reviewer:0123456789abcdef", "names its centres"),
            ("admin@osc-a:0123456789abcdef", "only a reviewer"),
            ("admin:$argon2id$nonsense", "not an argon2 hash"),
        ] {
            let err = Auth::from_specs(&[spec]).unwrap_err().to_string();
            assert!(err.contains(expected), "{spec}: {err}");
            let secret = spec.split_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(secret.is_empty() || !err.contains(secret), "{err}");
        }
        let err = Auth::from_specs(&["editor:0123456789abcdef", "admin:0123456789abcdef"]).unwrap_err();
        assert_eq!(err, AuthConfigError::Duplicate { index: 2, role: Role::Admin });
    }

    #[test]
    fn a_configured_hash_stands_for_its_token() {
        let hash = hash_password("a-token-known-only-by-its-hash").unwrap();
        let auth = Auth::from_specs(&[format!("admin:{hash}")]).unwrap();
        assert_eq!(auth.token_principal("a-token-known-only-by-its-hash").unwrap().role, Role::Admin);
        assert_eq!(auth.token_principal("a-token-known-only-by-its-hasH"), None);
    }

    #[test]
    fn authorization_headers_are_checked() {
        let auth = Auth::from_specs(&["planner:0123456789abcdef"]).unwrap();
        assert_eq!(auth.check(Some("Bearer 0123456789abcdef")).unwrap().role, Role::Planner);
        assert_eq!(auth.check(Some("bearer  0123456789abcdef ")).unwrap().role, Role::Planner);
        for bad in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer"), Some("Bearer nope-nope-nope-nope")] {
            assert!(matches!(auth.check(bad), Err(ApiError::Unauthorized(_))), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_argon2id_and_verified() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
        assert!(!verify_password("anything", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse battery staple").unwrap());
        let p = generate_password();
        assert_eq!(p.chars().count(), 20);
        assert_ne!(p, generate_password());
    }

    fn reviewer() -> Principal {
        Principal {
            role: Role::Reviewer,
            user: Some("r".into()),
            centres: vec!["osc-a".into()],
            dossier: None,
            authenticated: true,
        }
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let auth = Auth::none().with_jwt_secret("a-secret-of-at-least-thirty-two-chars").unwrap();
        let (token, expires) = auth.issue_session(&reviewer(), Duration::from_secs(60)).unwrap();
        assert!(expires > Utc::now());
        let back = auth.check(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(back, reviewer());

        // Another server with the same secret accepts it; with another secret, not.
        let same = Auth::none().with_jwt_secret("a-secret-of-at-least-thirty-two-chars").unwrap();
        assert_eq!(same.check(Some(&format!("Bearer {token}"))).unwrap().role, Role::Reviewer);
        let other = Auth::none();
        assert!(matches!(other.check(Some(&format!("Bearer {token}"))), Err(ApiError::Unauthorized(_))));

        // Tampered: the role in the claims changed, the signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], engine.encode(claims.to_string()), parts[2]);
        let err = auth.check(Some(&format!("Bearer {forged}"))).unwrap_err().to_string();
        assert!(err.contains("not valid"), "{err}");
        // Unsigned ("alg": "none") is refused.
        let none_header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert!(auth.check(Some(&format!("Bearer {unsigned}"))).is_err());

        // Expired: a session whose end has passed.
        let (old, _) = auth.issue_session(&reviewer(), Duration::from_secs(0)).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let err = auth.check(Some(&format!("Bearer {old}"))).unwrap_err().to_string();
        assert!(err.contains("expired"), "{err}");

        assert_eq!(Auth::none().with_jwt_secret("short").unwrap_err(), AuthConfigError::ShortJwtSecret);
    }

    #[test]
    fn failed_logins_are_limited_per_address_and_per_user() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..LOGIN_FAILURES as u64 {
            assert!(limiter.begin("a.moreau", Some(home), t0 + Duration::from_secs(i)).is_ok(), "{i}");
        }
        // The sixth from that address within the minute, whatever the name: refused until the
        // first is a minute old.
        let wait = limiter.begin("a.moreau", Some(home), t0 + Duration::from_secs(10)).err().unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.begin("b.lee", Some(home), t0 + Duration::from_secs(10)).is_err());
        // One address cannot lock the name: from elsewhere, the name may still log in.
        assert!(limiter.begin("a.moreau", Some(other), t0 + Duration::from_secs(10)).is_ok());
        assert!(limiter.begin("b.lee", None, t0 + Duration::from_secs(10)).is_ok());
        // A minute after the first failure, one more try from home.
        assert!(limiter.begin("a.moreau", Some(home), t0 + Duration::from_secs(60)).is_ok());
        assert!(limiter.begin("a.moreau", Some(home), t0 + Duration::from_secs(60)).is_err());

        // Guesses at one name spread over many addresses: the name's own limit.
        let spread = LoginLimiter::default();
        let address = |i: usize| IpAddr::from([198, 51, 100, i as u8]);
        for i in 0..LOGIN_FAILURES_PER_NAME {
            assert!(spread.begin("c.diaz", Some(address(i)), t0).is_ok(), "{i}");
        }
        let wait = spread.begin("c.diaz", Some(address(200)), t0 + Duration::from_secs(1)).err().unwrap();
        assert_eq!(wait, Duration::from_secs(59));
        assert!(spread.begin("d.okafor", Some(address(200)), t0 + Duration::from_secs(1)).is_ok());

        // A success forgets the name's failures and takes its own attempt back.
        let fresh = LoginLimiter::default();
        for _ in 0..LOGIN_FAILURES - 1 {
            fresh.begin("c", Some(home), t0).unwrap();
        }
        let ok = fresh.begin("c", Some(home), t0).unwrap();
        fresh.succeeded(ok);
        assert!(fresh.begin("c", None, t0).is_ok());
        // The address kept its four failures, not the success: one more try, then refused.
        assert!(fresh.begin("d", Some(home), t0).is_ok());
        assert!(fresh.begin("e", Some(home), t0).is_err());
    }

    #[test]
    fn the_client_behind_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let inner: IpAddr = "10.0.0.6".parse().unwrap();
        let trusted = [proxy, inner];
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.7"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.6"));
        // The last address the trusted chain appended that is not itself a proxy; the client's
        // own claim at the start of the header is not believed.
        assert_eq!(client_address(proxy, &headers, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        // Not from a trusted proxy: the peer, whatever the header says.
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(peer, &headers, &trusted), peer);
        // No header, or an unreadable entry: the last address believed.
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
        let mut odd = HeaderMap::new();
        odd.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7, unknown"));
        assert_eq!(client_address(proxy, &odd, &trusted), proxy);
    }
}
