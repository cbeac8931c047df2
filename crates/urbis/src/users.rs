//! `urbis users add|list|disable|enable`: the staff accounts in a store (shared by every server on
//! it), and the demo's accounts. Passwords are kept only as argon2id hashes.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use urbis_core::LayerId;
use urbis_server::accounts::{account_role, check_centres, MIN_PASSWORD_CHARS};
use urbis_server::auth::{generate_password, Role};
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

pub async fn command(action: UsersAction, store: &dyn Store) -> anyhow::Result<()> {
    match action {
        UsersAction::Add { name, role, centres, password_stdin, .. } => {
            let (role, centres) = account_role(&role, centres).map_err(|e| anyhow::anyhow!("--role, --centre: {e}"))?;
            check_centres(store, &centres)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .map_err(|e| anyhow::anyhow!("--centre: {e}"))?;
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

fn new_user(name: &str, role: Role, centres: Vec<String>, password: &str) -> anyhow::Result<User> {
    urbis_server::accounts::new_user(name, role, centres, password).map_err(|e| anyhow::anyhow!("--name {name}: {e}"))
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
