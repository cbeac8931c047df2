//! The server's staff accounts, kept in the store so that every server behind a load balancer
//! sees the same ones: a plain table `urbis_users` on both backends (no layer: no geometry, not
//! served as a collection). The store keeps what it is given; roles and password hashes are the
//! server's business (`urbis-server/src/auth.rs`), so `role` is text here and `password_hash` is
//! an opaque PHC string.

/// The table, on both stores.
pub(crate) const TABLE: &str = "urbis_users";

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Unique; what the person types to log in.
    pub name: String,
    pub role: String,
    /// The service centres (ids) a reviewer works for; empty for other roles.
    pub centres: Vec<String>,
    /// An argon2id PHC string; never served.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// When the account was made (RFC 3339, UTC).
    pub created: String,
    pub disabled: bool,
}

/// The most characters of a user name.
pub const MAX_NAME_CHARS: usize = 64;

/// Whether `name` may name a user: 1 to 64 letters, digits, `.`, `-`, `_` or `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

pub(crate) fn check_new(user: &User) -> crate::Result<()> {
    if !valid_name(&user.name) {
        return Err(crate::StoreError::InvalidUser {
            name: user.name.clone(),
            reason: format!("a user name is 1 to {MAX_NAME_CHARS} letters, digits, `.`, `-`, `_` or `@`"),
        });
    }
    if user.password_hash.is_empty() || user.role.is_empty() {
        return Err(crate::StoreError::InvalidUser {
            name: user.name.clone(),
            reason: "a user needs a role and a password hash".into(),
        });
    }
    Ok(())
}
