//! `urbis users add|list|disable|enable`: the staff accounts in a store (shared by every server on
//! it), and the demo's accounts. Passwords are kept only as argon2id hashes.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use urbis_core::LayerId;
use urbis_server::auth::{generate_password, hash_password, Role};
use urbis_store::{Query, Store, User};

#[derive(Subcommand)]
pub enum UsersAction {
    /// Add an account. Without --password-stdin a password is generated and printed once.
    Add {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        /// The name to log in with (letters, digits, `.`, `-`, `_`, `@`).
        #[arg(long)]
        name: String,
        /// reviewer, planner or admin (`editor` is the old name of planner).
        #[arg(long)]
        role: String,
        /// A service centre (id) a reviewer works for; repeat for several. Reviewers need one.
        #[arg(long = "centre")]
        centres: Vec<String>,
        /// Read the password from standard input (its first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every account: name, role, centres, created, disabled.
    List {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
    },
    /// Disable an account: it cannot log in, and its sessions stop working at once.
    Disable {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        #[arg(long)]
        name: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        #[arg(long)]
        name: String,
    },
}

impl UsersAction {
    pub fn store(&self) -> Option<String> {
        match self {
            UsersAction::Add { store, .. }
            | UsersAction::List { store }
            | UsersAction::Disable { store, .. }
            | UsersAction::Enable { store, .. } => store.clone(),
        }
    }
}

/// The shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 12;

pub async fn command(action: UsersAction, store: &dyn Store) -> anyhow::Result<()> {
    match action {
        UsersAction::Add { name, role, centres, password_stdin, .. } => {
            let (role, centres) = account_role(&role, centres)?;
            for c in &centres {
                if store.get(LayerId::ServiceCentres, c).await?.is_none() {
                    bail!("--centre {c}: no service centre has this id (see /collections/service_centres/items)");
                }
            }
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).context("reading the password from standard input")?;
                let password = text.lines().next().unwrap_or("").to_string();
                if password.chars().count() < MIN_PASSWORD_CHARS {
                    bail!("the password needs at least {MIN_PASSWORD_CHARS} characters");
                }
                (password, false)
            } else {
                (generate_password(), true)
            };
            let user = new_user(&name, role, centres, &password)?;
            store.add_user(&user).await.with_context(|| format!("adding user `{name}`"))?;
            println!("added user {name} ({role}{})", centres_text(&user.centres));
            if generated {
                println!("password (shown once, keep it): {password}");
            }
        }
        UsersAction::List { .. } => {
            let users = store.list_users().await?;
            println!("{:<24} {:<9} {:<24} {:<25} state", "name", "role", "centres", "created");
            for u in &users {
                println!(
                    "{:<24} {:<9} {:<24} {:<25} {}",
                    u.name,
                    u.role,
                    u.centres.join("+"),
                    u.created,
                    if u.disabled { "disabled" } else { "active" }
                );
            }
            println!("{} user(s)", users.len());
        }
        UsersAction::Disable { name, .. } => {
            store.set_user_disabled(&name, true).await?;
            println!("disabled user {name}");
        }
        UsersAction::Enable { name, .. } => {
            store.set_user_disabled(&name, false).await?;
            println!("enabled user {name}");
        }
    }
    Ok(())
}

fn centres_text(centres: &[String]) -> String {
    if centres.is_empty() {
        String::new()
    } else {
        format!(" of {}", centres.join(", "))
    }
}

/// A role an account may have, with its centres checked against it.
fn account_role(role: &str, centres: Vec<String>) -> anyhow::Result<(Role, Vec<String>)> {
    let role = Role::parse_configured(role)
        .map_err(|r| anyhow::anyhow!("--role {r}: the roles are reviewer, planner, admin"))?;
    if !Role::ACCOUNT.contains(&role) {
        bail!("--role {role}: accounts are reviewer, planner or admin (applicants use their tracking code and secret)");
    }
    match role {
        Role::Reviewer if centres.is_empty() => bail!("a reviewer needs at least one --centre"),
        Role::Reviewer => Ok((role, centres)),
        _ if !centres.is_empty() => bail!("only reviewers are bound to centres (--centre)"),
        _ => Ok((role, centres)),
    }
}

fn new_user(name: &str, role: Role, centres: Vec<String>, password: &str) -> anyhow::Result<User> {
    if !urbis_store::users::valid_name(name) {
        bail!("--name {name}: 1 to 64 letters, digits, `.`, `-`, `_` or `@`");
    }
    Ok(User {
        name: name.to_string(),
        role: role.name().to_string(),
        centres,
        password_hash: hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        disabled: false,
    })
}

/// The demo's accounts (documented in README.md and data-samples/README.md; demo only): an
/// admin, a planner, and a reviewer for each one-stop centre, `reviewer-<centre id>`.
pub const DEMO_ADMIN: (&str, &str) = ("admin", "demo-admin-password");
pub const DEMO_PLANNER: (&str, &str) = ("planner", "demo-planner-password");
pub const DEMO_REVIEWER_PASSWORD: &str = "demo-reviewer-password";

/// Adds the demo's accounts that the store lacks; returns every demo account as
/// `(name, role, centres, password)`.
pub async fn seed_demo(store: &dyn Store) -> anyhow::Result<Vec<(String, Role, Vec<String>, String)>> {
    let mut accounts = vec![
        (DEMO_ADMIN.0.to_string(), Role::Admin, vec![], DEMO_ADMIN.1.to_string()),
        (DEMO_PLANNER.0.to_string(), Role::Planner, vec![], DEMO_PLANNER.1.to_string()),
    ];
    let centres = store.query(LayerId::ServiceCentres, &Query::all()).await?;
    for c in centres.iter().filter(|c| c.attributes.get("one_stop").and_then(|v| v.as_bool()) == Some(true)) {
        accounts.push((
            format!("reviewer-{}", c.id),
            Role::Reviewer,
            vec![c.id.clone()],
            DEMO_REVIEWER_PASSWORD.into(),
        ));
    }
    for (name, role, centres, password) in &accounts {
        if store.get_user(name).await?.is_none() {
            store.add_user(&new_user(name, *role, centres.clone(), password)?).await?;
        }
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_centres_are_checked() {
        assert_eq!(account_role("reviewer", vec!["osc-a".into()]).unwrap().0, Role::Reviewer);
        assert_eq!(account_role("editor", vec![]).unwrap().0, Role::Planner);
        for (role, centres, expected) in [
            ("reviewer", vec![], "needs at least one --centre"),
            ("admin", vec!["osc-a".to_string()], "only reviewers"),
            ("applicant", vec![], "accounts are reviewer, planner or admin"),
            ("owner", vec![], "the roles are"),
        ] {
            let err = account_role(role, centres).unwrap_err().to_string();
            assert!(err.contains(expected), "{role}: {err}");
        }
        assert!(new_user("bad name", Role::Admin, vec![], "whatever-password").is_err());
        let u = new_user("a.moreau", Role::Admin, vec![], "whatever-password").unwrap();
        assert!(u.password_hash.starts_with("$argon2id$") && !u.password_hash.contains("whatever"));
    }
}
