//! The desk's people and how they prove who they are: users (argon2id password hashes, a role),
//! browser sessions (random 256-bit ids stored only as SHA-256 hashes, an expiry, a per-session
//! CSRF token), per-user API tokens (stored hashed), the login rate limit per client address,
//! and what admins change about users (role, disabled, password, tokens), each change written to
//! the `desk_audit` log with who made it. The saved replies of [`super::replies`] share its
//! database connection and migrations.
//!
//! Tables live in the service's one SQLite database, beside the journal; their schema is in
//! [`crate::storage::migrations`]. This module decides who someone is and what their
//! role allows; it does not render pages or know about cookies and headers (the HTTP channel
//! does). Its methods are synchronous and some are slow on purpose (argon2): async callers run
//! them on the blocking pool.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    sync::{Arc, LazyLock},
};

use argon2::{
    password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Params, Version,
};
use parking_lot::Mutex;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::storage::{Database, Reader, StorageError};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// How long a browser session lasts unless the config says otherwise.
pub const DEFAULT_SESSION_SECS: i64 = 12 * 3600;
/// Failed logins from one address within the window before it must wait.
pub const DEFAULT_LOGIN_FAILURES: usize = 5;
pub const DEFAULT_LOGIN_WINDOW_SECS: i64 = 300;
/// Addresses with failed logins kept before the stale ones are dropped.
const MAX_TRACKED_ADDRESSES: usize = 10_000;
/// What a per-user API token starts with, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "skd_";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("desk database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("wrong email or password")]
    BadCredentials,
    #[error(
        "too many failed logins from this address or to this account; try again in {retry_after} s"
    )]
    TooManyAttempts { retry_after: i64 },
    #[error("a user with email {0} already exists")]
    UserExists(String),
    #[error("no user with email {0}")]
    UserNotFound(String),
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("role must be \"agent\" or \"admin\", not {0:?}")]
    BadRole(String),
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("this needs the {0} role")]
    Forbidden(Role),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("no user with id {0}")]
    NoSuchUser(i64),
    #[error("the desk must keep at least one active admin: make someone else an admin first")]
    LastAdmin,
    #[error("{0:?} is not a change to a user (role, disable, enable, password, revoke-tokens)")]
    UnknownChange(String),
}

impl AccountError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Storage(e) => e.code(),
            Self::Sqlite(_) | Self::Hash(_) => "accounts_failed",
            Self::BadCredentials => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::UserExists(_) => "user_exists",
            Self::UserNotFound(_) | Self::NoSuchUser(_) => "user_not_found",
            Self::LastAdmin => "last_admin",
            Self::UnknownChange(_) => "unknown_change",
            Self::BadEmail(_) => "invalid_email",
            Self::BadRole(_) => "invalid_role",
            Self::WeakPassword => "weak_password",
            Self::Forbidden(_) => "forbidden",
        }
    }
}

/// What a person may do. Agents work the queue and conversations; admins also undo logged
/// actions and manage users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Self::Agent),
            "admin" => Ok(Self::Admin),
            other => Err(AccountError::BadRole(other.to_string())),
        }
    }
}

/// A desk user as listed (never with the hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    /// The name customers see on replies.
    pub name: String,
    pub role: Role,
    pub created_at: String,
    /// A disabled user cannot sign in, and their sessions and tokens do not work.
    pub disabled: bool,
    pub last_login_at: Option<String>,
    /// API tokens the user holds.
    pub tokens: i64,
}

/// The columns [`user_row`] reads, of `desk_users u`.
const USER_COLUMNS: &str = "u.id, u.email, u.name, u.role, u.created_at, u.disabled_at IS NOT NULL, u.last_login_at, (SELECT COUNT(*) FROM desk_tokens k WHERE k.user_id = u.id)";
/// How many columns that is: what a query selects after them starts here.
const USER_COLUMN_COUNT: usize = 8;

/// What an admin changes about a user.
#[derive(Debug, Clone)]
pub enum UserChange {
    Role(Role),
    /// Signs them out everywhere and stops their tokens working, until enabled again.
    Disable,
    Enable,
    /// A new password (their sessions end; tokens stay).
    Password(String),
    /// Deletes every API token they hold.
    RevokeTokens,
}

impl UserChange {
    /// The change named `kind` (`role`, `disable`, `enable`, `password`, `revoke-tokens`, as in
    /// the desk's paths), with the role or password it needs.
    pub fn parse(
        kind: &str,
        role: Option<&str>,
        password: Option<String>,
    ) -> Result<Self, AccountError> {
        match kind {
            "role" => Ok(Self::Role(role.unwrap_or_default().parse()?)),
            "disable" => Ok(Self::Disable),
            "enable" => Ok(Self::Enable),
            "password" => Ok(Self::Password(password.unwrap_or_default())),
            "revoke-tokens" => Ok(Self::RevokeTokens),
            other => Err(AccountError::UnknownChange(other.to_string())),
        }
    }
}

/// One line of the audit log: who changed which user how.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// The acting person's email (`admin-token` for the configured token, `server` for the CLI).
    pub actor: String,
    /// `user_created`, `role_changed`, `user_disabled`, `user_enabled`, `password_reset`,
    /// `tokens_revoked`.
    pub action: String,
    /// The user changed (their email).
    pub target: String,
    pub detail: String,
}

/// Who the audit log names for changes made with `shopkeep admin` on the server itself.
const CLI_ACTOR: &str = "server";

/// Who is acting: a user, or the holder of the configured `admin.api_token` (no user row).
#[derive(Debug, Clone, Serialize)]
pub struct Staff {
    pub user_id: Option<i64>,
    pub email: String,
    pub name: String,
    pub role: Role,
}

impl Staff {
    /// The configured token's holder: an admin without a user account.
    pub fn token_admin() -> Self {
        Self {
            user_id: None,
            email: "admin-token".into(),
            name: crate::desk::DEFAULT_AGENT.into(),
            role: Role::Admin,
        }
    }

    /// Refuses unless this person has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AccountError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AccountError::Forbidden(role))
        }
    }

    fn from_user(u: User) -> Self {
        Self {
            user_id: Some(u.id),
            email: u.email,
            name: u.name,
            role: u.role,
        }
    }
}

/// A live browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub staff: Staff,
    /// Sent back in every form the session posts; compared in constant time.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Login policy, from the config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub session_secs: i64,
    /// Failed logins from one address within the window.
    pub login_failures: usize,
    /// Failed logins to one account within the window, from any addresses: twice the address
    /// limit, so one address alone cannot lock a person out, while many addresses guessing one
    /// person's password are stopped.
    pub account_failures: usize,
    pub login_window_secs: i64,
}

impl Limits {
    pub fn new(session_secs: i64, login_failures: usize, login_window_secs: i64) -> Self {
        Self {
            session_secs,
            login_failures,
            account_failures: login_failures.saturating_mul(2),
            login_window_secs,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(
            DEFAULT_SESSION_SECS,
            DEFAULT_LOGIN_FAILURES,
            DEFAULT_LOGIN_WINDOW_SECS,
        )
    }
}

/// Login attempts within the window (unix seconds), per client address and per account. An
/// attempt is written down *before* its password is checked, under the lock, so parallel
/// guesses cannot all pass the limit check first and be evaluated after.
#[derive(Default)]
struct Attempts {
    by_address: HashMap<IpAddr, Vec<i64>>,
    by_account: HashMap<String, Vec<i64>>,
}

/// At most this many argon2 computations run at once (each takes 19 MiB and a core for tens of
/// milliseconds); more wait their turn, so a burst of logins cannot grow memory without bound.
const MAX_CONCURRENT_HASHES: usize = 2;

/// The gate in front of argon2: a counting semaphore for the blocking threads logins run on,
/// holding the working memory each computation fills. The areas are allocated once and handed
/// from one login to the next: with a fresh 19 MiB allocation per login, glibc keeps each freed
/// area in the arena of the thread that used it (freeing one raises its mmap threshold past
/// that size), so a burst over many blocking threads left resident memory ~100 MB higher for
/// good. Reused, it is `MAX_CONCURRENT_HASHES` areas, ever.
struct HashGate {
    /// Areas not in use, and how many exist (in use or not).
    areas: Mutex<(Vec<Vec<argon2::Block>>, usize)>,
    freed: parking_lot::Condvar,
}

static HASH_GATE: HashGate = HashGate {
    areas: Mutex::new((Vec::new(), 0)),
    freed: parking_lot::Condvar::new(),
};

impl HashGate {
    /// Runs `work` with a working area of at least `blocks` argon2 blocks.
    fn run<T>(&self, blocks: usize, work: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
        let mut area = {
            let mut areas = self.areas.lock();
            loop {
                if let Some(area) = areas.0.pop() {
                    break area;
                }
                if areas.1 < MAX_CONCURRENT_HASHES {
                    areas.1 += 1;
                    break Vec::new();
                }
                self.freed.wait(&mut areas);
            }
        };
        // Given back even if `work` panics.
        struct Leave<'a>(&'a HashGate, Vec<argon2::Block>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.areas.lock().0.push(std::mem::take(&mut self.1));
                self.0.freed.notify_one();
            }
        }
        if area.len() < blocks {
            area.resize(blocks, argon2::Block::default());
        }
        let mut leave = Leave(self, area);
        work(&mut leave.1[..blocks])
    }
}

/// The desk's users, sessions and tokens, plus the in-memory login limiter.
pub struct Accounts {
    db: Arc<Database>,
    limits: Limits,
    /// Login attempts per address and per account, within the window.
    failures: Mutex<Attempts>,
}

/// A hash to verify against when the email is unknown, so a wrong email costs as long as a
/// wrong password and response times do not say which emails exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a real password, only timing").unwrap_or_default());

impl Accounts {
    /// The accounts of `db` (its tables are in [`crate::storage::migrations`]).
    pub fn new(db: Arc<Database>, limits: Limits) -> Self {
        Self {
            db,
            limits,
            failures: Mutex::new(Attempts::default()),
        }
    }

    /// Opens (creating if needed) the database at `path` for the accounts alone (the service
    /// opens one [`Database`] for all its parts and uses [`Accounts::new`]).
    pub fn open(path: &Path, limits: Limits) -> Result<Self, AccountError> {
        Ok(Self::new(Database::open(path)?, limits))
    }

    pub fn open_in_memory(limits: Limits) -> Result<Self, AccountError> {
        Ok(Self::new(Database::open_in_memory()?, limits))
    }

    /// Also used by [`super::replies`], whose table is beside these.
    pub(super) fn read(&self) -> Result<Reader<'_>, AccountError> {
        Ok(self.db.reader()?)
    }

    pub(super) fn write(&self) -> Result<parking_lot::MutexGuard<'_, Connection>, AccountError> {
        Ok(self.db.writer()?)
    }

    /// Adds a user from the server's command line (`shopkeep admin create-user`). Slow (argon2).
    pub fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        role: Role,
        password: &str,
    ) -> Result<User, AccountError> {
        self.insert_user(CLI_ACTOR, email, name, role, password)
    }

    /// An admin adds a user from the desk. Slow (argon2).
    pub fn add_user(
        &self,
        actor: &Staff,
        email: &str,
        name: Option<&str>,
        role: Role,
        password: &str,
    ) -> Result<User, AccountError> {
        actor.require(Role::Admin)?;
        self.insert_user(&actor.email, email, name, role, password)
    }

    fn insert_user(
        &self,
        actor: &str,
        email: &str,
        name: Option<&str>,
        role: Role,
        password: &str,
    ) -> Result<User, AccountError> {
        let email = normalise_email(email)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AccountError::WeakPassword);
        }
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
        let hash = hash_password(password)?;
        let created_at = crate::journal::now();
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        match tx.execute(
            "INSERT INTO desk_users (email, name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![email, name, role.as_str(), hash, created_at],
        ) {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => return Err(AccountError::UserExists(email)),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let user = User {
            id: tx.last_insert_rowid(),
            email,
            name,
            role,
            created_at,
            disabled: false,
            last_login_at: None,
            tokens: 0,
        };
        audit(
            &tx,
            actor,
            "user_created",
            &user.email,
            &format!("role {role}"),
        )?;
        tx.commit()?;
        Ok(user)
    }

    /// Every user, by email.
    pub fn users(&self) -> Result<Vec<User>, AccountError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM desk_users u ORDER BY u.email"
        ))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The user with this id.
    pub fn user(&self, id: i64) -> Result<Option<User>, AccountError> {
        Ok(user_by_id(&*self.read()?, id)?)
    }

    /// An admin changes a user; recorded in the audit log under `actor`. No change may leave the
    /// desk without an active admin (`LastAdmin`): someone must still be able to manage users.
    /// Disabling ends the user's sessions at once, and their tokens stop working (the lookups
    /// skip disabled users; enabling brings the tokens back, `RevokeTokens` deletes them).
    /// Slow for `Password` (argon2).
    pub fn change_user(
        &self,
        actor: &Staff,
        id: i64,
        change: UserChange,
    ) -> Result<User, AccountError> {
        actor.require(Role::Admin)?;
        // Hashed before taking the lock: argon2 takes a while and sign-ins share the connection.
        let new_hash = match &change {
            UserChange::Password(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(AccountError::WeakPassword)
            }
            UserChange::Password(p) => Some(hash_password(p)?),
            _ => None,
        };
        let mut conn = self.write()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let user = user_by_id(&tx, id)?.ok_or(AccountError::NoSuchUser(id))?;
        let leaves_no_admin = |tx: &rusqlite::Transaction<'_>| -> Result<bool, AccountError> {
            let others: i64 = tx.query_row("SELECT COUNT(*) FROM desk_users WHERE role = 'admin' AND disabled_at IS NULL AND id != ?1", [id], |r| r.get(0))?;
            Ok(user.role == Role::Admin && !user.disabled && others == 0)
        };
        let now = crate::journal::now();
        match change {
            UserChange::Role(role) if role == user.role => {}
            UserChange::Role(role) => {
                if role != Role::Admin && leaves_no_admin(&tx)? {
                    return Err(AccountError::LastAdmin);
                }
                tx.execute(
                    "UPDATE desk_users SET role = ?2 WHERE id = ?1",
                    params![id, role.as_str()],
                )?;
                audit(
                    &tx,
                    &actor.email,
                    "role_changed",
                    &user.email,
                    &format!("{} → {role}", user.role),
                )?;
            }
            UserChange::Disable if user.disabled => {}
            UserChange::Disable => {
                if leaves_no_admin(&tx)? {
                    return Err(AccountError::LastAdmin);
                }
                tx.execute(
                    "UPDATE desk_users SET disabled_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                let sessions = tx.execute("DELETE FROM desk_sessions WHERE user_id = ?1", [id])?;
                audit(
                    &tx,
                    &actor.email,
                    "user_disabled",
                    &user.email,
                    &format!("{sessions} sessions ended"),
                )?;
            }
            UserChange::Enable if !user.disabled => {}
            UserChange::Enable => {
                tx.execute(
                    "UPDATE desk_users SET disabled_at = NULL WHERE id = ?1",
                    [id],
                )?;
                audit(&tx, &actor.email, "user_enabled", &user.email, "")?;
            }
            UserChange::Password(_) => {
                tx.execute(
                    "UPDATE desk_users SET password_hash = ?2 WHERE id = ?1",
                    params![id, new_hash],
                )?;
                // Whoever knew the old password may hold a session: it ends with it.
                let sessions = tx.execute("DELETE FROM desk_sessions WHERE user_id = ?1", [id])?;
                audit(
                    &tx,
                    &actor.email,
                    "password_reset",
                    &user.email,
                    &format!("{sessions} sessions ended"),
                )?;
            }
            UserChange::RevokeTokens => {
                let tokens = tx.execute("DELETE FROM desk_tokens WHERE user_id = ?1", [id])?;
                audit(
                    &tx,
                    &actor.email,
                    "tokens_revoked",
                    &user.email,
                    &format!("{tokens} tokens"),
                )?;
            }
        }
        let changed = user_by_id(&tx, id)?.ok_or(AccountError::NoSuchUser(id))?;
        tx.commit()?;
        Ok(changed)
    }

    /// The latest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, AccountError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT id, at, actor, action, target, detail FROM desk_audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks a password and opens a session: returns the session's id (for the cookie; only its
    /// hash is stored) and the session. Failures count against `client` and against the account;
    /// past either limit every attempt is refused, right or wrong, before any password is
    /// checked, until the window has passed. Slow (argon2).
    pub fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
        now: i64,
    ) -> Result<(String, Session), AccountError> {
        let account = normalise_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
        self.reserve_attempt(client, &account, now)?;
        let result = self.check_password(email, password, now);
        if result.is_ok() {
            self.forgive_attempt(client, &account, now);
        }
        result
    }

    fn check_password(
        &self,
        email: &str,
        password: &str,
        now: i64,
    ) -> Result<(String, Session), AccountError> {
        let found = normalise_email(email)
            .ok()
            .map(|e| self.user_with_hash(&e))
            .transpose()?
            .flatten();
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, DUMMY_HASH.clone()),
        };
        // A disabled user's right password is refused like a wrong one (after the same work).
        let ok = verify_password(password, &hash) && user.as_ref().is_some_and(|u| !u.disabled);
        // A failure stays written down as the attempt reserved it.
        let Some(user) = user.filter(|_| ok) else {
            return Err(AccountError::BadCredentials);
        };
        let id = random_hex();
        let csrf = random_hex();
        let expires_at = now + self.limits.session_secs;
        let conn = self.write()?;
        // Expired sessions go whenever someone logs in: no background sweeper needed.
        conn.execute("DELETE FROM desk_sessions WHERE expires_at <= ?1", [now])?;
        conn.execute(
            "UPDATE desk_users SET last_login_at = ?2 WHERE id = ?1",
            params![user.id, crate::journal::now()],
        )?;
        conn.execute(
            "INSERT INTO desk_sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256_hex(&id), user.id, csrf, now, expires_at],
        )?;
        Ok((
            id,
            Session {
                staff: Staff::from_user(user),
                csrf,
                expires_at,
            },
        ))
    }

    /// Writes down an attempt for `client` and `account`, or refuses it when either is at its
    /// limit. Done under one lock, before the password is checked.
    fn reserve_attempt(&self, client: IpAddr, account: &str, now: i64) -> Result<(), AccountError> {
        let mut f = self.failures.lock();
        let window = self.limits.login_window_secs;
        let since = now - window;
        // Many addresses (or accounts) failing once each must not grow the maps without bound.
        if f.by_address.len() >= MAX_TRACKED_ADDRESSES {
            f.by_address
                .retain(|_, times| times.last().is_some_and(|&t| t > since));
        }
        if f.by_account.len() >= MAX_TRACKED_ADDRESSES {
            f.by_account
                .retain(|_, times| times.last().is_some_and(|&t| t > since));
        }
        let wait = |times: &mut Vec<i64>, limit: usize| {
            times.retain(|&t| t > since);
            (times.len() >= limit).then(|| {
                times
                    .first()
                    .map_or(window, |&first| first + window - now)
                    .max(1)
            })
        };
        let by_address = wait(
            f.by_address.entry(client).or_default(),
            self.limits.login_failures,
        );
        let by_account = wait(
            f.by_account.entry(account.to_string()).or_default(),
            self.limits.account_failures,
        );
        if let Some(retry_after) = by_address.max(by_account) {
            return Err(AccountError::TooManyAttempts { retry_after });
        }
        f.by_address.entry(client).or_default().push(now);
        f.by_account
            .entry(account.to_string())
            .or_default()
            .push(now);
        Ok(())
    }

    /// A successful login takes back its own reserved attempt and clears its account's failures
    /// (the owner has proved themselves), but leaves the address's other failures: signing in
    /// to one's own account must not reset guesses made at others.
    fn forgive_attempt(&self, client: IpAddr, account: &str, now: i64) {
        let mut f = self.failures.lock();
        if let Some(times) = f.by_address.get_mut(&client) {
            if let Some(i) = times.iter().rposition(|&t| t == now) {
                times.remove(i);
            }
        }
        f.by_account.remove(account);
    }

    /// The session with this id, while it has not expired.
    pub fn session(&self, id: &str, now: i64) -> Result<Option<Session>, AccountError> {
        let row = self
            .read()?
            .query_row(
                // Disabling deletes the sessions too; the check here holds whatever the order.
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf, s.expires_at
                     FROM desk_sessions s JOIN desk_users u ON u.id = s.user_id WHERE s.id_hash = ?1 AND u.disabled_at IS NULL"
                ),
                [sha256_hex(id)],
                |r| Ok((user_row(r)?, r.get::<_, String>(USER_COLUMN_COUNT)?, r.get::<_, i64>(USER_COLUMN_COUNT + 1)?)),
            )
            .optional()?;
        match row {
            Some((_, _, expires_at)) if expires_at <= now => {
                self.write()?.execute(
                    "DELETE FROM desk_sessions WHERE id_hash = ?1",
                    [sha256_hex(id)],
                )?;
                Ok(None)
            }
            Some((user, csrf, expires_at)) => Ok(Some(Session {
                staff: Staff::from_user(user),
                csrf,
                expires_at,
            })),
            None => Ok(None),
        }
    }

    /// Ends a session (logout). Unknown ids are fine: the result is the same.
    pub fn end_session(&self, id: &str) -> Result<(), AccountError> {
        self.write()?.execute(
            "DELETE FROM desk_sessions WHERE id_hash = ?1",
            [sha256_hex(id)],
        )?;
        Ok(())
    }

    /// A new API token for the user: returned once, stored only as its hash.
    pub fn create_token(&self, email: &str) -> Result<String, AccountError> {
        let email = normalise_email(email)?;
        let (user, _) = self
            .user_with_hash(&email)?
            .ok_or_else(|| AccountError::UserNotFound(email.clone()))?;
        let token = format!("{TOKEN_PREFIX}{}", random_hex());
        self.write()?.execute(
            "INSERT INTO desk_tokens (token_hash, user_id, created_at) VALUES (?1, ?2, ?3)",
            params![sha256_hex(&token), user.id, crate::journal::now()],
        )?;
        Ok(token)
    }

    /// The owner of an API token. Tokens are 256 random bits, so a plain hash (not argon2) is
    /// enough to keep a copied database from yielding working tokens.
    pub fn staff_for_token(&self, token: &str) -> Result<Option<Staff>, AccountError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let conn = self.read()?;
        let user = conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM desk_tokens t JOIN desk_users u ON u.id = t.user_id WHERE t.token_hash = ?1 AND u.disabled_at IS NULL"),
                [sha256_hex(token)],
                user_row,
            )
            .optional()?;
        Ok(user.map(Staff::from_user))
    }

    /// Whether any user has an API token (with no configured token either, the API is off).
    pub fn any_tokens(&self) -> Result<bool, AccountError> {
        Ok(self
            .read()?
            .query_row("SELECT EXISTS(SELECT 1 FROM desk_tokens)", [], |r| r.get(0))?)
    }

    fn user_with_hash(&self, email: &str) -> Result<Option<(User, String)>, AccountError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, u.password_hash FROM desk_users u WHERE u.email = ?1"
                ),
                [email],
                |r| Ok((user_row(r)?, r.get::<_, String>(USER_COLUMN_COUNT)?)),
            )
            .optional()?)
    }
}

/// A user from the first [`USER_COLUMN_COUNT`] columns ([`USER_COLUMNS`]).
fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        // Roles are only ever written from a parsed `Role`.
        role: role.parse().unwrap_or(Role::Agent),
        created_at: r.get(4)?,
        disabled: r.get(5)?,
        last_login_at: r.get(6)?,
        tokens: r.get(7)?,
    })
}

fn user_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM desk_users u WHERE u.id = ?1"),
        [id],
        user_row,
    )
    .optional()
}

/// Records a change to a user (or to a saved reply), in the caller's transaction.
pub(super) fn audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO desk_audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![crate::journal::now(), actor, action, target, detail],
    )?;
    Ok(())
}

fn normalise_email(email: &str) -> Result<String, AccountError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(AccountError::BadEmail(email.to_string()))
    }
}

/// argon2id with the crate's defaults (RFC 9106's second recommendation: 19 MiB, 2 passes),
/// as a PHC string. Computed in one of the gate's working areas rather than through
/// `PasswordHasher`, which allocates its own each time.
fn hash_password(password: &str) -> Result<String, AccountError> {
    let fail = |e: &dyn std::fmt::Display| AccountError::Hash(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| fail(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    HASH_GATE
        .run(argon.params().block_count(), |area| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, area)
        })
        .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string, with the parameters the string records.
fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(stored) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (stored.hash, stored.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&stored) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = HASH_GATE.run(argon.params().block_count(), |area| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, area)
    });
    computed.is_ok() && constant_time_eq(&out, expected.as_bytes())
}

/// 256 random bits from the OS, as hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compares without stopping at the first difference, so response times say nothing about how
/// much of a guessed secret was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stored_as_argon2id_hashes() {
        let a = Accounts::open_in_memory(Limits::default()).unwrap();
        a.create_user(
            "Priya@Example.com",
            None,
            Role::Agent,
            "correct horse battery",
        )
        .unwrap();
        let (_, hash) = a.user_with_hash("priya@example.com").unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
    }

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // A hash written by the crate's own hasher (what earlier releases stored) still signs in.
        let salt = SaltString::generate(&mut OsRng);
        let older = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("correct horse battery", &older));
        assert!(!verify_password("correct horse batterz", &older));
        // And one written here is an ordinary argon2id hash any PHC verifier accepts.
        let ours = hash_password("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(!verify_password("", &ours));
        assert!(!verify_password(
            "correct horse battery",
            "$argon2id$garbage"
        ));
    }

    #[test]
    fn a_burst_of_hashes_reuses_a_bounded_set_of_working_areas() {
        let threads: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| hash_password("a burst of sign-ins").unwrap()))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let areas = HASH_GATE.areas.lock();
        assert!(areas.1 <= MAX_CONCURRENT_HASHES, "{} areas", areas.1);
    }

    #[test]
    fn no_change_leaves_the_desk_without_an_active_admin() {
        let a = Accounts::open_in_memory(Limits::default()).unwrap();
        let ada = a
            .create_user(
                "ada@example.com",
                None,
                Role::Admin,
                "correct horse battery",
            )
            .unwrap();
        let sam = a
            .create_user(
                "sam@example.com",
                None,
                Role::Agent,
                "correct horse battery",
            )
            .unwrap();
        // Not even the configured token's holder, who has no user row to lock out.
        let token = Staff::token_admin();
        assert!(matches!(
            a.change_user(&token, ada.id, UserChange::Disable),
            Err(AccountError::LastAdmin)
        ));
        assert!(matches!(
            a.change_user(&token, ada.id, UserChange::Role(Role::Agent)),
            Err(AccountError::LastAdmin)
        ));
        // A disabled admin does not count: making Sam an admin and disabling him changes nothing.
        a.change_user(&token, sam.id, UserChange::Role(Role::Admin))
            .unwrap();
        a.change_user(&token, sam.id, UserChange::Disable).unwrap();
        assert!(matches!(
            a.change_user(&token, ada.id, UserChange::Disable),
            Err(AccountError::LastAdmin)
        ));
        a.change_user(&token, sam.id, UserChange::Enable).unwrap();
        assert!(
            a.change_user(&token, ada.id, UserChange::Disable)
                .unwrap()
                .disabled
        );
        let agent = Staff::from_user(a.user(ada.id).unwrap().unwrap());
        assert!(matches!(
            a.change_user(
                &Staff {
                    role: Role::Agent,
                    ..agent
                },
                sam.id,
                UserChange::Enable
            ),
            Err(AccountError::Forbidden(Role::Admin))
        ));
        let log: Vec<String> = a
            .audit_log(10)
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {} {}", e.actor, e.action, e.target))
            .collect();
        assert_eq!(log[0], "admin-token user_disabled ada@example.com");
        assert_eq!(log.last().unwrap(), "server user_created ada@example.com");
    }
}
