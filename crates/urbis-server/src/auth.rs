//! Who may write: bearer tokens from the server's configuration, each with a role. Reads stay
//! public; a write needs a role that may edit. A simple check until the permits issue brings the
//! full role model. Tokens are kept only as SHA-256 digests and are never logged or echoed.

use std::fmt;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// The shortest token accepted: shorter ones are too easy to guess.
pub const MIN_TOKEN_CHARS: usize = 16;

/// What a token's holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads, as anyone may; may not edit.
    Viewer,
    /// Creates, replaces, updates and deletes features.
    Editor,
    /// Everything an editor may.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn may_edit(self) -> bool {
        matches!(self, Role::Editor | Role::Admin)
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

/// A token in the configuration that cannot be used. The messages never repeat the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("token {index}: expected ROLE:TOKEN, e.g. editor:… (the roles are viewer, editor, admin)")]
    Malformed { index: usize },
    #[error("token {index}: `{role}` is not a role; the roles are viewer, editor, admin")]
    UnknownRole { index: usize, role: String },
    #[error("token {index} ({role}): a token needs at least {MIN_TOKEN_CHARS} characters")]
    TooShort { index: usize, role: Role },
    #[error("token {index} ({role}): a token may not hold spaces or control characters")]
    BadCharacters { index: usize, role: Role },
    #[error("token {index} ({role}): the same token is configured twice")]
    Duplicate { index: usize, role: Role },
}

/// The tokens a server accepts. With none, every write is refused.
#[derive(Clone, Default)]
pub struct Auth {
    tokens: Vec<([u8; 32], Role)>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.tokens.iter().map(|(_, r)| r.name()).collect();
        f.debug_struct("Auth").field("token_roles", &roles).finish()
    }
}

impl Auth {
    /// No tokens: reads only.
    pub fn none() -> Auth {
        Auth::default()
    }

    /// Tokens written `ROLE:TOKEN` (`editor:…`), as the configuration holds them; the first
    /// token is number 1 in errors.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Auth, AuthConfigError> {
        let mut auth = Auth::none();
        for (i, spec) in specs.iter().enumerate() {
            let index = i + 1;
            let (role, token) = spec.as_ref().split_once(':').ok_or(AuthConfigError::Malformed { index })?;
            let role: Role = role.parse().map_err(|role| AuthConfigError::UnknownRole { index, role })?;
            auth.add(index, role, token)?;
        }
        Ok(auth)
    }

    /// Adds one token (`index` names it in errors).
    pub fn add(&mut self, index: usize, role: Role, token: &str) -> Result<(), AuthConfigError> {
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AuthConfigError::BadCharacters { index, role });
        }
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(AuthConfigError::TooShort { index, role });
        }
        let digest = digest(token);
        if self.tokens.iter().any(|(d, _)| *d == digest) {
            return Err(AuthConfigError::Duplicate { index, role });
        }
        self.tokens.push((digest, role));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many tokens each role has, for the start-up log.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Role::ALL
            .iter()
            .map(|r| (r, self.tokens.iter().filter(|(_, t)| t == r).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        if parts.is_empty() {
            "no tokens: writes are refused".into()
        } else {
            format!("tokens: {}", parts.join(", "))
        }
    }

    /// The role of a token, if it is one of ours. Digests are compared, so the time taken says
    /// nothing about how much of a guessed token was right.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let d = digest(token);
        self.tokens.iter().find(|(t, _)| *t == d).map(|(_, r)| *r)
    }

    /// The role behind an `Authorization` header value, or the error to answer.
    pub fn check(&self, authorization: Option<&str>) -> Result<Role, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::Unauthorized(if self.is_empty() {
                "this server accepts no writes: it was started without tokens (--token ROLE:TOKEN)".into()
            } else {
                "writing needs a token: send `Authorization: Bearer <token>`".into()
            }));
        };
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::Unauthorized("use `Authorization: Bearer <token>`".into()));
        }
        self.role_of(token.trim()).ok_or_else(|| ApiError::Unauthorized("the token is not valid".into()))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// An extractor that lets a handler run only for a caller whose role may edit: 401 without a
/// valid token, 403 with a token whose role may not.
pub struct Editor {
    pub role: Role,
}

impl FromRequestParts<AppState> for Editor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| ApiError::Unauthorized("the token is not valid".into()))?),
        };
        let role = state.auth.check(value)?;
        if !role.may_edit() {
            return Err(ApiError::Forbidden(format!(
                "the role `{role}` may not edit; writes need the role `editor` or `admin`"
            )));
        }
        Ok(Editor { role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_parsed_and_errors_never_show_the_token() {
        let auth = Auth::from_specs(&["editor:0123456789abcdef", "viewer:fedcba9876543210"]).unwrap();
        assert_eq!(auth.role_of("0123456789abcdef"), Some(Role::Editor));
        assert_eq!(auth.role_of("fedcba9876543210"), Some(Role::Viewer));
        assert_eq!(auth.role_of("0123456789abcdeF"), None);
        assert!(!format!("{auth:?}").contains("0123"), "{auth:?}");
        assert_eq!(auth.summary(), "tokens: 1 viewer, 1 editor");

        for (spec, expected) in [
            ("editor", "token 1: expected ROLE:TOKEN"),
            ("owner:0123456789abcdef", "`owner` is not a role"),
            ("editor:short-secret", "at least 16 characters"),
            ("editor:0123456789 abcdef", "spaces"),
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
    fn authorization_headers_are_checked() {
        let auth = Auth::from_specs(&["editor:0123456789abcdef"]).unwrap();
        assert_eq!(auth.check(Some("Bearer 0123456789abcdef")).unwrap(), Role::Editor);
        assert_eq!(auth.check(Some("bearer  0123456789abcdef ")).unwrap(), Role::Editor);
        for bad in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer"), Some("Bearer nope-nope-nope-nope")] {
            assert!(matches!(auth.check(bad), Err(ApiError::Unauthorized(_))), "{bad:?}");
        }
        let none = Auth::none().check(None).unwrap_err().to_string();
        assert!(none.contains("started without tokens"), "{none}");
    }
}
