//! Administration: the workspace record, users, integrations, tokens, authentication and
//! sharing. Used by the CLI, the demo loader, and the HTTP edge's authentication.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use access::{
    Actor, Capabilities, Grant, Grantee, IntegrationActor, Level, Operation, Role, UserActor,
};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use document::Id;
use document::time::DAY_MS;
use rand::Rng;
use sha2::{Digest, Sha256};
use storage_sql::{
    IntegrationRecord, NodeKind, TokenRecord, TokenSubject, UserKind, UserRecord, WorkspaceRecord,
};
use tokio::sync::Semaphore;

use crate::request::{Page, invalid_cursor, page_size};
use crate::{Error, Result, Workspace};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Integration,
}

/// Prefix of every API token, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "trellis_";
/// Random bytes in a token.
pub const TOKEN_ENTROPY_BYTES: usize = 32;

/// How high-entropy secrets (API tokens, webhook URL tokens) are stored: SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; TOKEN_ENTROPY_BYTES] = rand::rng().random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Longest lifetime a token may be issued with.
pub const TOKEN_EXPIRES_IN_DAYS_MAX: i64 = 3650;
/// Longest name a token may be remembered by.
pub const TOKEN_NAME_CHARS_MAX: usize = 100;

/// Whether a token still lets its bearer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn name(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// A token's status at `now` (milliseconds): revocation wins over expiry.
pub fn token_status(token: &TokenRecord, now: i64) -> TokenStatus {
    if token.revoked_time.is_some() {
        TokenStatus::Revoked
    } else if token.expires_time.is_some_and(|expires| expires <= now) {
        TokenStatus::Expired
    } else {
        TokenStatus::Active
    }
}

/// Tokens are managed by people with personal tokens: an integration's token, or an
/// integration acting for a user, could otherwise mint itself credentials that outlive it.
fn token_manager(actor: &Actor) -> Result<&UserActor> {
    match actor {
        Actor::User(user) => Ok(user),
        _ => Err(Error::Restricted(
            "Only people manage API tokens; use a personal token.".into(),
        )),
    }
}

/// For workspace-wide administration (the search index's state, everyone's counts): owners,
/// calling as themselves with a personal token.
pub fn require_owner<'a>(actor: &'a Actor, action: &str) -> Result<&'a UserActor> {
    match actor {
        Actor::User(user) if user.role == Role::Owner => Ok(user),
        _ => Err(Error::Restricted(format!(
            "Only workspace owners may {action}."
        ))),
    }
}

// ----- passwords ---------------------------------------------------------------------------

/// How many passwords were checked against a hash, real or dummy. It lets a test see that a
/// sign-in to an unknown email pays for a verification as a wrong password does.
static PASSWORD_VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// Every password hash is made with these parameters (argon2's defaults: Argon2id v19, 19 MiB,
/// 2 passes, 1 lane), the dummy hash included: verifying reads the parameters from the hash,
/// so equal parameters make equal costs.
fn argon2() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// Blocking (tens of milliseconds of CPU): call it through [`blocking`].
fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::rng().random::<[u8; 16]>())
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(e.to_string()))?
        .to_string())
}

/// Blocking: whether `password` matches `hash`. A hash that does not parse is the store's
/// fault, not the caller's.
fn verify_password(hash: &str, password: &str) -> Result<bool> {
    PASSWORD_VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    let parsed = PasswordHash::new(hash).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// The hash of a random password nobody knows, made once. Sign-ins to an email with no
/// account, or to an account without a password, are verified against it, so that they take
/// as long as a wrong password for a real account and do not tell which emails exist.
fn dummy_password_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let password: [u8; 32] = rand::rng().random();
        // Hashing with fixed, valid parameters and a fresh salt cannot fail.
        hash_password(&hex::encode(password)).expect("hashing a random password")
    });
    &DUMMY
}

/// Password hashes and verifications waiting for a turn, at most; more are refused as
/// unavailable rather than queued without end.
const PASSWORD_WORK_QUEUED_MAX: usize = 1024;

/// Turns at password work: half the machine's cores, at least one. A flood of sign-ins then
/// leaves the other half to every other request, and holds this many argon2 memory blocks
/// (19 MiB each) rather than one per thread of tokio's blocking pool (512 by default).
static PASSWORD_WORK: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    Semaphore::new((cores / 2).max(1))
});
static PASSWORD_WORK_QUEUED: AtomicUsize = AtomicUsize::new(0);

/// Counts a caller waiting for a turn, until it gets one or gives up (a dropped request).
struct QueuedForPasswordWork;

impl QueuedForPasswordWork {
    fn join() -> Result<QueuedForPasswordWork> {
        let queued = QueuedForPasswordWork;
        if PASSWORD_WORK_QUEUED.fetch_add(1, Ordering::Relaxed) >= PASSWORD_WORK_QUEUED_MAX {
            return Err(Error::Unavailable(
                "Too many sign-ins at once. Please try again in a few seconds.".into(),
            ));
        }
        Ok(queued)
    }
}

impl Drop for QueuedForPasswordWork {
    fn drop(&mut self) {
        PASSWORD_WORK_QUEUED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs password hashing off the async runtime, a few at a time: argon2 holds a CPU for tens
/// of milliseconds, and a flood of sign-ins on the runtime's threads would stall every other
/// request. The turn is held by the work itself, so a request that goes away mid-hash does
/// not free it early.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let queued = QueuedForPasswordWork::join()?;
    let turn = PASSWORD_WORK
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    drop(queued);
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing stopped: {e}")))?
}

// ----- the sign-in limiter -----------------------------------------------------------------

/// Failed sign-ins to one account in a window before the account refuses more.
pub const LOGIN_FAILURES_PER_ACCOUNT_MAX: u32 = 10;
/// Failed sign-ins from one client address, to any accounts, in a window before it is refused.
pub const LOGIN_FAILURES_PER_ADDRESS_MAX: u32 = 30;
/// How long failures are counted: a window starts with its first failure and does not grow.
pub const LOGIN_FAILURE_WINDOW_MS: u64 = 15 * 60 * 1000;
/// How long an address that signed in to an account stays exempt from that account's lockout.
pub const LOGIN_TRUSTED_ADDRESS_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Entries each of the limiter's three maps (accounts, addresses, trusted pairs) holds at most.
pub const LOGIN_LIMITER_KEYS_MAX: usize = 10_000;
/// Longest key kept; longer emails or addresses are cut (no account has a longer email).
pub const LOGIN_KEY_BYTES_MAX: usize = document::limits::EMAIL_CHARS_MAX;

/// The limits a [`LoginLimiter`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub failures_per_account_max: u32,
    pub failures_per_address_max: u32,
    pub failure_window_ms: u64,
    pub trusted_address_ms: u64,
    pub keys_max: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            failures_per_account_max: LOGIN_FAILURES_PER_ACCOUNT_MAX,
            failures_per_address_max: LOGIN_FAILURES_PER_ADDRESS_MAX,
            failure_window_ms: LOGIN_FAILURE_WINDOW_MS,
            trusted_address_ms: LOGIN_TRUSTED_ADDRESS_MS,
            keys_max: LOGIN_LIMITER_KEYS_MAX,
        }
    }
}

/// Counts failed sign-ins per account (email) and per client address, in memory, and refuses
/// sign-ins past either limit until the window that counted them ends.
///
/// An attempt counts as a failure from the moment it begins until [`LoginLimiter::succeeded`]
/// takes it back, so a burst of parallel guesses is counted before argon2 answers any of them.
///
/// Lockout by others: a per-account limit lets anyone lock an account by failing on purpose.
/// Three things bound that. Only failures count, and a success clears the account's count. A
/// window starts at its first failure and refused attempts do not extend it, so a lock ends
/// at most `failure_window_ms` after it began. And an address that signed in to the
/// account within `trusted_address_ms` is exempt from the account's limit (though not from
/// its own), so someone failing elsewhere does not lock the owner out on their usual network.
/// An owner on a new network can still be locked out for a window at a time by someone who
/// keeps failing; that is the price of not letting a botnet guess one account without end.
///
/// Memory: each map holds at most `keys_max` keys of at most [`LOGIN_KEY_BYTES_MAX`] bytes.
/// A full map first drops its expired entries, then its oldest (the next to expire). Filling
/// the account map with unique emails takes `keys_max / failures_per_address_max` addresses
/// (334 by default), each spending its guesses on nothing.
pub struct LoginLimiter {
    limits: LoginLimits,
    state: Mutex<LimiterState>,
}

#[derive(Default)]
struct LimiterState {
    accounts: HashMap<String, Window>,
    addresses: HashMap<String, Window>,
    /// Pairs of (account, address) that signed in, with when they last did.
    trusted: HashMap<(String, String), Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> LoginLimiter {
        assert!(
            limits.keys_max > 0,
            "a limiter that keeps no keys limits nothing"
        );
        LoginLimiter {
            limits,
            state: Mutex::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_millis(self.limits.failure_window_ms)
    }

    fn trust(&self) -> Duration {
        Duration::from_millis(self.limits.trusted_address_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        // The state is counters that every change leaves whole: a panic elsewhere while the
        // lock was held leaves nothing to repair.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a sign-in to `account` from `address` at `now` and counts it as a failure until
    /// it succeeds, or refuses it with how long to wait.
    pub fn begin(
        &self,
        account: &str,
        address: &str,
        now: Instant,
    ) -> std::result::Result<(), Duration> {
        let account = account_key(account);
        let address = bounded_key(address);
        let window = self.window();
        let mut state = self.lock();
        let address_wait = blocked(
            &state.addresses,
            &address,
            self.limits.failures_per_address_max,
            now,
            window,
        );
        let trusted = state
            .trusted
            .get(&(account.clone(), address.clone()))
            .is_some_and(|time| now.saturating_duration_since(*time) < self.trust());
        let account_wait = if trusted {
            None
        } else {
            blocked(
                &state.accounts,
                &account,
                self.limits.failures_per_account_max,
                now,
                window,
            )
        };
        if let Some(wait) = address_wait.max(account_wait) {
            return Err(wait);
        }
        let keys_max = self.limits.keys_max;
        count_failure(&mut state.accounts, account, now, window, keys_max);
        count_failure(&mut state.addresses, address, now, window, keys_max);
        Ok(())
    }

    /// Takes back the failure [`LoginLimiter::begin`] counted, clears the account's count and
    /// trusts the address for the account.
    pub fn succeeded(&self, account: &str, address: &str, now: Instant) {
        let account = account_key(account);
        let address = bounded_key(address);
        let window = self.window();
        let trust = self.trust();
        let mut state = self.lock();
        state.accounts.remove(&account);
        if let Some(entry) = state.addresses.get_mut(&address)
            && now.saturating_duration_since(entry.started) < window
        {
            entry.failures = entry.failures.saturating_sub(1);
        }
        let pair = (account, address);
        if !state.trusted.contains_key(&pair) {
            make_room(
                &mut state.trusted,
                self.limits.keys_max,
                |time| now.saturating_duration_since(*time) < trust,
                |time| *time,
            );
        }
        state.trusted.insert(pair, now);
    }

    /// Keys held in all three maps: what the limiter's memory grows with.
    pub fn tracked_keys(&self) -> usize {
        let state = self.lock();
        state.accounts.len() + state.addresses.len() + state.trusted.len()
    }
}

/// Accounts are emails, compared as `find_user` compares them.
fn account_key(email: &str) -> String {
    bounded_key(&email.trim().to_lowercase())
}

fn bounded_key(key: &str) -> String {
    let mut end = key.len().min(LOGIN_KEY_BYTES_MAX);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_string()
}

/// How long `key` must wait, if its window holds `max` failures already.
fn blocked(
    map: &HashMap<String, Window>,
    key: &str,
    max: u32,
    now: Instant,
    window: Duration,
) -> Option<Duration> {
    let entry = map.get(key)?;
    let age = now.saturating_duration_since(entry.started);
    (age < window && entry.failures >= max).then(|| window - age)
}

fn count_failure(
    map: &mut HashMap<String, Window>,
    key: String,
    now: Instant,
    window: Duration,
    keys_max: usize,
) {
    let live = |entry: &Window| now.saturating_duration_since(entry.started) < window;
    if let Some(entry) = map.get_mut(&key) {
        if live(entry) {
            entry.failures = entry.failures.saturating_add(1);
        } else {
            *entry = Window {
                started: now,
                failures: 1,
            };
        }
        return;
    }
    make_room(map, keys_max, live, |entry| entry.started);
    map.insert(
        key,
        Window {
            started: now,
            failures: 1,
        },
    );
}

/// Makes room for one more key: drops expired entries, then the oldest ones. Runs only when
/// the map is full, so its linear scans are paid for by the argon2 verification each counted
/// attempt costs anyway.
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    keys_max: usize,
    live: impl Fn(&V) -> bool,
    started: impl Fn(&V) -> Instant,
) {
    if map.len() < keys_max {
        return;
    }
    map.retain(|_, value| live(value));
    while map.len() >= keys_max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, value)| started(value))
            .map(|(key, _)| key.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

impl Workspace {
    pub(crate) async fn ensure_workspace(&self, name: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        if tx.workspace().await?.is_none() {
            tx.insert_workspace(&WorkspaceRecord {
                id: Id::new(),
                name: name.to_string(),
                members_level: Level::FullAccess,
                created_time: crate::clock::now_ms(),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_user(&self, new_user: NewUser) -> Result<UserRecord> {
        let email = new_user.email.trim().to_lowercase();
        if !email.contains('@') || email.len() > document::limits::EMAIL_CHARS_MAX {
            return Err(Error::validation(
                "email",
                format!("`{email}` is not an email address"),
            ));
        }
        if new_user.name.trim().is_empty() {
            return Err(Error::validation("name", "should not be empty"));
        }
        let password_hash = match new_user.password {
            Some(password) if password.len() < 8 => {
                return Err(Error::validation(
                    "password",
                    "should be at least 8 characters",
                ));
            }
            Some(password) => Some(blocking(move || hash_password(&password)).await?),
            None => None,
        };
        let user = UserRecord {
            id: Id::new(),
            kind: UserKind::Person,
            role: new_user.role,
            name: new_user.name.trim().to_string(),
            email: Some(email),
            avatar_url: None,
            password_hash,
            integration_id: None,
            created_time: crate::clock::now_ms(),
        };
        let mut tx = self.store.write().await?;
        tx.insert_user(&user).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn find_user(&self, email: &str) -> Result<Option<UserRecord>> {
        let mut tx = self.store.read().await?;
        let user = tx.find_user_by_email(&email.trim().to_lowercase()).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Verifies a password against the stored argon2 hash. Every wrong sign-in costs one
    /// verification, whether the email has an account with a password or not.
    pub async fn check_password(&self, email: &str, password: &str) -> Result<UserRecord> {
        let user = self.find_user(email).await?;
        let stored = user.as_ref().and_then(|user| user.password_hash.clone());
        let password = password.to_string();
        let matches = blocking(move || match &stored {
            Some(hash) => verify_password(hash, &password),
            None => verify_password(dummy_password_hash(), &password).map(|_| false),
        })
        .await?;
        match user {
            Some(user) if matches => Ok(user),
            _ => Err(Error::Unauthorized("wrong email or password".into())),
        }
    }

    /// Creates an internal integration with its bot user, or returns the existing one.
    pub async fn ensure_integration(
        &self,
        name: &str,
        capabilities: Capabilities,
        created_by: Option<Id>,
    ) -> Result<IntegrationRecord> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::validation("name", "should be 1 to 100 characters"));
        }
        let mut tx = self.store.write().await?;
        if let Some(existing) = tx.find_integration_by_name(name).await? {
            tx.commit().await?;
            return Ok(existing);
        }
        let now = crate::clock::now_ms();
        let integration_id = Id::new();
        let bot = UserRecord {
            id: Id::new(),
            kind: UserKind::Bot,
            role: Role::Member,
            name: name.to_string(),
            email: None,
            avatar_url: None,
            password_hash: None,
            integration_id: Some(integration_id),
            created_time: now,
        };
        tx.insert_user(&bot).await?;
        let integration = IntegrationRecord {
            id: integration_id,
            name: name.to_string(),
            bot_user_id: bot.id,
            capabilities,
            created_by,
            created_time: now,
        };
        tx.insert_integration(&integration).await?;
        tx.commit().await?;
        Ok(integration)
    }

    /// Sets the integration's capabilities (an admin's choice at install time).
    pub async fn set_integration_capabilities(
        &self,
        integration_id: Id,
        capabilities: Capabilities,
    ) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.set_integration_capabilities(integration_id, &capabilities)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a group (or finds it by name) and adds members to it.
    pub async fn ensure_group(&self, name: &str, member_emails: &[String]) -> Result<Id> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::validation("name", "should be 1 to 100 characters"));
        }
        let mut tx = self.store.write().await?;
        let id = match tx.find_group(name).await? {
            Some(id) => id,
            None => {
                let id = Id::new();
                tx.insert_group(id, name).await?;
                id
            }
        };
        for email in member_emails {
            let user = tx
                .find_user_by_email(&email.trim().to_lowercase())
                .await?
                .ok_or_else(|| {
                    Error::validation("member", format!("no user with email {email}"))
                })?;
            tx.add_group_member(id, user.id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// What members (not guests) get on top-level pages unless a page restricts it.
    pub async fn set_members_level(&self, level: Level) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.set_members_level(level).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a token that never expires and returns it; only its hash is stored.
    pub async fn create_token(&self, subject: TokenSubject, name: &str) -> Result<String> {
        Ok(self.issue_token(subject, name, None).await?.1)
    }

    /// Issues a token, expiring `expires_in_days` from now when given. Returns its record and
    /// its secret: only this answer ever holds the secret, the store keeps its hash.
    pub async fn issue_token(
        &self,
        subject: TokenSubject,
        name: &str,
        expires_in_days: Option<i64>,
    ) -> Result<(TokenRecord, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > TOKEN_NAME_CHARS_MAX {
            return Err(Error::validation(
                "name",
                format!("should be 1 to {TOKEN_NAME_CHARS_MAX} characters"),
            ));
        }
        if let Some(days) = expires_in_days
            && !(1..=TOKEN_EXPIRES_IN_DAYS_MAX).contains(&days)
        {
            return Err(Error::validation(
                "expires_in_days",
                format!(
                    "should be a number of days between 1 and {TOKEN_EXPIRES_IN_DAYS_MAX}, instead was {days}"
                ),
            ));
        }
        let now = crate::clock::now_ms();
        let record = TokenRecord {
            id: Id::new(),
            subject,
            name: name.to_string(),
            created_time: now,
            expires_time: expires_in_days.map(|days| now + days * DAY_MS),
            revoked_time: None,
        };
        let token = new_token();
        let mut tx = self.store.write().await?;
        tx.insert_token(&hash_token(&token), &record).await?;
        tx.commit().await?;
        Ok((record, token))
    }

    /// A personal token for the caller.
    pub async fn create_personal_token(
        &self,
        actor: &Actor,
        name: &str,
        expires_in_days: Option<i64>,
    ) -> Result<(TokenRecord, String)> {
        let user = token_manager(actor)?;
        self.issue_token(TokenSubject::User(user.id), name, expires_in_days)
            .await
    }

    /// A user's personal tokens, revoked and expired ones included, ordered by id: the
    /// caller's own, or (for owners) anyone's.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user_id: Option<Id>,
        start_cursor: Option<String>,
        size: Option<usize>,
    ) -> Result<Page<TokenRecord>> {
        let caller = token_manager(actor)?;
        let user_id = user_id.unwrap_or(caller.id);
        if user_id != caller.id && caller.role != Role::Owner {
            return Err(Error::Restricted(
                "Only workspace owners may list other users' tokens.".into(),
            ));
        }
        let limit = page_size(size)?;
        let after = match start_cursor {
            None => None,
            Some(cursor) => Some(Id::parse(&cursor).ok_or_else(invalid_cursor)?),
        };
        let mut tx = self.store.read().await?;
        let mut tokens = tx.list_tokens(Some(user_id), after, limit + 1).await?;
        tx.commit().await?;
        let next_cursor = if tokens.len() as i64 > limit {
            tokens.truncate(limit as usize);
            tokens.last().map(|token| token.id.to_string())
        } else {
            None
        };
        Ok(Page {
            results: tokens,
            next_cursor,
        })
    }

    /// Every token (personal and integration), or one user's, for the CLI: whoever runs it
    /// holds the store.
    pub async fn all_tokens(&self, user_id: Option<Id>) -> Result<Vec<TokenRecord>> {
        const BATCH: i64 = 500;
        let mut tokens = Vec::new();
        let mut tx = self.store.read().await?;
        loop {
            let after = tokens.last().map(|token: &TokenRecord| token.id);
            let batch = tx.list_tokens(user_id, after, BATCH).await?;
            let done = (batch.len() as i64) < BATCH;
            tokens.extend(batch);
            if done {
                break;
            }
        }
        tx.commit().await?;
        Ok(tokens)
    }

    /// Revokes one of the caller's tokens, or (for owners) anyone's. A token the caller may
    /// not revoke is not found, as one that does not exist. Revoking twice keeps the first time.
    pub async fn revoke_token(&self, actor: &Actor, id: Id) -> Result<TokenRecord> {
        let caller = token_manager(actor)?;
        self.revoke(id, |token| {
            caller.role == Role::Owner || token.subject == TokenSubject::User(caller.id)
        })
        .await
    }

    /// Revokes any token, for the CLI.
    pub async fn revoke_any_token(&self, id: Id) -> Result<TokenRecord> {
        self.revoke(id, |_| true).await
    }

    async fn revoke(&self, id: Id, may: impl FnOnce(&TokenRecord) -> bool) -> Result<TokenRecord> {
        let mut tx = self.store.write().await?;
        match tx.get_token(id).await? {
            Some(token) if may(&token) => {}
            _ => return Err(Error::not_found("token", id)),
        }
        tx.revoke_token(id, crate::clock::now_ms()).await?;
        let token = tx
            .get_token(id)
            .await?
            .ok_or_else(|| Error::not_found("token", id))?;
        tx.commit().await?;
        Ok(token)
    }

    /// Resolves a bearer token to the actor it acts as.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let invalid = || Error::Unauthorized("API token is invalid.".into());
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(invalid());
        }
        let mut tx = self.store.read().await?;
        let record = tx
            .find_token(&hash_token(token))
            .await?
            .ok_or_else(invalid)?;
        // Revoked and expired tokens get the answer an unknown one gets.
        if token_status(&record, crate::clock::now_ms()) != TokenStatus::Active {
            return Err(invalid());
        }
        let actor = match record.subject {
            TokenSubject::User(user_id) => {
                let user = tx.get_user(user_id).await?.ok_or_else(invalid)?;
                Actor::User(UserActor {
                    id: user.id,
                    role: user.role,
                    groups: tx.user_groups(user.id).await?,
                })
            }
            TokenSubject::Integration(integration_id) => {
                let integration = tx
                    .get_integration(integration_id)
                    .await?
                    .ok_or_else(invalid)?;
                Actor::Bot(IntegrationActor {
                    id: integration.id,
                    bot_user_id: integration.bot_user_id,
                    capabilities: integration.capabilities,
                })
            }
        };
        tx.commit().await?;
        Ok(actor)
    }

    /// The actor for a user acting as themself (CLI, demo loader).
    pub async fn actor_for_user(&self, user_id: Id) -> Result<Actor> {
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(user_id)
            .await?
            .ok_or_else(|| Error::not_found("user", user_id))?;
        let groups = tx.user_groups(user_id).await?;
        tx.commit().await?;
        Ok(Actor::User(UserActor {
            id: user.id,
            role: user.role,
            groups,
        }))
    }

    /// Shares a node: sets (or with `None` removes) a grant. Needs full access.
    pub async fn share(
        &self,
        actor: &Actor,
        node_id: Id,
        grantee: Grantee,
        level: Option<Level>,
    ) -> Result<()> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            match level {
                Some(level) => r.tx.set_grant(node_id, Grant { grantee, level }).await?,
                None => {
                    r.tx.remove_grant(node_id, grantee).await?;
                }
            }
            r.log(
                "page.sharing_updated",
                node.node.kind(),
                node_id,
                node.node.parent().node_id(),
                Vec::new(),
            )
            .await
        }
        .await;
        r.finish(result).await
    }

    /// Makes a node stop (or resume) inheriting access from its parent. Needs full access.
    pub async fn set_inherits(&self, actor: &Actor, node_id: Id, inherits: bool) -> Result<()> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            if !inherits {
                // Whoever restricts keeps full access, so a restriction cannot lock its author out.
                if let Some(user) = r.actor.user() {
                    r.tx.set_grant(
                        node_id,
                        Grant {
                            grantee: Grantee::User(user.id),
                            level: Level::FullAccess,
                        },
                    )
                    .await?;
                }
            }
            r.tx.set_inherits(node_id, inherits).await?;
            r.log(
                "page.sharing_updated",
                NodeKind::Page,
                node_id,
                node.node.parent().node_id(),
                Vec::new(),
            )
            .await
        }
        .await;
        r.finish(result).await
    }

    /// A node's sharing: whether it inherits, and its own grants. Needs full access.
    pub async fn sharing(&self, actor: &Actor, node_id: Id) -> Result<(bool, Vec<Grant>)> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            Ok((node.inherits, r.tx.grants(node_id).await?))
        }
        .await;
        r.finish(result).await
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        integration_id: Option<Id>,
        limit: i64,
    ) -> Result<Vec<storage_sql::AuditEntry>> {
        let mut tx = self.store.read().await?;
        let entries = tx.audit_entries(integration_id, limit).await?;
        tx.commit().await?;
        Ok(entries)
    }

    /// Change-log events after `cursor`.
    pub async fn changes_after(
        &self,
        cursor: storage_sql::ChangeCursor,
        limit: i64,
    ) -> Result<Vec<storage_sql::ChangeRecord>> {
        let mut tx = self.store.read().await?;
        let changes = tx.read_changes(cursor, limit).await?;
        tx.commit().await?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            failures_per_account_max: 3,
            failures_per_address_max: 5,
            failure_window_ms: 60_000,
            trusted_address_ms: 24 * 60 * 60 * 1000,
            keys_max: 50,
        }
    }

    #[test]
    fn an_account_is_refused_after_its_failures_until_the_window_ends() {
        let limiter = LoginLimiter::new(limits());
        let start = Instant::now();
        for i in 0..3 {
            let address = format!("10.0.0.{i}");
            assert!(limiter.begin("Ada@Example.com", &address, start).is_ok());
        }
        // The same account in another spelling, from a fourth address.
        let wait = limiter
            .begin(
                " ada@example.COM ",
                "10.0.0.9",
                start + Duration::from_secs(20),
            )
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        // Refused attempts do not extend the window.
        assert!(
            limiter
                .begin(
                    "ada@example.com",
                    "10.0.0.9",
                    start + Duration::from_secs(60)
                )
                .is_ok()
        );
        // Other accounts were never limited.
        assert!(limiter.begin("ben@example.com", "10.0.0.9", start).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_failures_on_any_accounts() {
        let limiter = LoginLimiter::new(limits());
        let start = Instant::now();
        for i in 0..5 {
            assert!(
                limiter
                    .begin(&format!("user{i}@example.com"), "10.0.0.1", start)
                    .is_ok()
            );
        }
        let wait = limiter
            .begin(
                "fresh@example.com",
                "10.0.0.1",
                start + Duration::from_secs(1),
            )
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(59));
        assert!(
            limiter
                .begin("fresh@example.com", "10.0.0.2", start)
                .is_ok()
        );
    }

    #[test]
    fn a_success_takes_its_attempt_back_and_clears_the_account() {
        let limiter = LoginLimiter::new(limits());
        let now = Instant::now();
        for _ in 0..2 {
            limiter.begin("ada@example.com", "10.0.0.1", now).unwrap();
        }
        limiter.begin("ada@example.com", "10.0.0.1", now).unwrap();
        limiter.succeeded("ada@example.com", "10.0.0.1", now);
        // The account's count is clear: three more failures before it refuses.
        for _ in 0..2 {
            limiter.begin("ada@example.com", "10.0.0.2", now).unwrap();
        }
        // The address's two failures still count, its success does not: 5 - 2 left.
        for i in 0..3 {
            limiter
                .begin(&format!("other{i}@example.com"), "10.0.0.1", now)
                .unwrap();
        }
        assert!(limiter.begin("x@example.com", "10.0.0.1", now).is_err());
    }

    #[test]
    fn an_address_that_signed_in_is_not_locked_out_by_failures_elsewhere() {
        let limiter = LoginLimiter::new(limits());
        let now = Instant::now();
        limiter.begin("ada@example.com", "10.0.0.1", now).unwrap();
        limiter.succeeded("ada@example.com", "10.0.0.1", now);
        // Someone else fails the account until it locks.
        for _ in 0..3 {
            limiter.begin("ada@example.com", "192.0.2.7", now).unwrap();
        }
        assert!(limiter.begin("ada@example.com", "192.0.2.7", now).is_err());
        assert!(limiter.begin("ada@example.com", "192.0.2.8", now).is_err());
        // Ada's own address still gets in, and stays trusted only for a while.
        assert!(limiter.begin("ada@example.com", "10.0.0.1", now).is_ok());
        let later = now + Duration::from_secs(24 * 60 * 60);
        for _ in 0..3 {
            limiter
                .begin("ada@example.com", "192.0.2.7", later)
                .unwrap();
        }
        assert!(limiter.begin("ada@example.com", "10.0.0.1", later).is_err());
    }

    #[test]
    fn unique_emails_do_not_grow_the_limiter_past_its_bound() {
        let limiter = LoginLimiter::new(limits());
        let now = Instant::now();
        for i in 0..10_000u32 {
            let address = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            limiter
                .begin(&format!("user{i}@example.com"), &address, now)
                .unwrap();
            limiter.succeeded(&format!("user{i}@example.com"), &address, now);
        }
        assert!(limiter.tracked_keys() <= 3 * limits().keys_max);
        // Long keys are cut, so the bound in bytes holds too.
        let long = "a".repeat(100_000) + "@example.com";
        limiter.begin(&long, &"b".repeat(100_000), now).unwrap();
        let state = limiter.lock();
        assert!(
            state
                .accounts
                .keys()
                .all(|key| key.len() <= LOGIN_KEY_BYTES_MAX)
        );
        assert!(
            state
                .addresses
                .keys()
                .all(|key| key.len() <= LOGIN_KEY_BYTES_MAX)
        );
    }

    #[test]
    fn a_full_limiter_drops_expired_entries_before_live_ones() {
        let limiter = LoginLimiter::new(limits());
        // Entries that will be stale, then a locked account, filling the map.
        let stale = Instant::now();
        for i in 0..49 {
            let email = format!("old{i}@example.com");
            limiter
                .begin(&email, &format!("10.1.0.{i}"), stale)
                .unwrap();
        }
        let start = stale + Duration::from_secs(100);
        for _ in 0..3 {
            limiter.begin("ada@example.com", "10.0.0.1", start).unwrap();
        }
        let later = start + Duration::from_secs(30);
        limiter.begin("new@example.com", "10.2.0.1", later).unwrap();
        assert!(limiter.begin("ada@example.com", "10.0.0.2", later).is_err());
        assert_eq!(limiter.lock().accounts.len(), 2);
    }

    async fn store_workspace() -> Workspace {
        let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
        Workspace::new(store).await.unwrap()
    }

    #[tokio::test]
    async fn unknown_emails_cost_a_verification_with_the_same_parameters() {
        let workspace = store_workspace().await;
        let ada = workspace
            .create_user(NewUser {
                email: "ada@example.com".into(),
                name: "Ada".into(),
                role: Role::Owner,
                password: Some("correct horse".into()),
            })
            .await
            .unwrap();
        workspace
            .create_user(NewUser {
                email: "ben@example.com".into(),
                name: "Ben".into(),
                role: Role::Member,
                password: None,
            })
            .await
            .unwrap();
        // The dummy hash is made as a real one is.
        let real = PasswordHash::new(ada.password_hash.as_deref().unwrap()).unwrap();
        let dummy = PasswordHash::new(dummy_password_hash()).unwrap();
        assert_eq!(real.algorithm, dummy.algorithm);
        assert_eq!(real.version, dummy.version);
        assert_eq!(
            argon2::Params::try_from(&real).unwrap(),
            argon2::Params::try_from(&dummy).unwrap()
        );
        assert_ne!(real.salt, dummy.salt);

        let mut answers = Vec::new();
        for (email, password) in [
            ("ada@example.com", "wrong password"),
            ("nobody@example.com", "correct horse"),
            ("ben@example.com", "correct horse"),
        ] {
            let before = PASSWORD_VERIFICATIONS.load(Ordering::Relaxed);
            let error = workspace.check_password(email, password).await.unwrap_err();
            assert!(
                PASSWORD_VERIFICATIONS.load(Ordering::Relaxed) > before,
                "{email}: no password was verified"
            );
            answers.push((error.code().as_str(), error.to_string()));
        }
        assert!(
            answers.iter().all(|answer| *answer == answers[0]),
            "{answers:?}"
        );
        assert_eq!(
            workspace
                .check_password("ADA@example.com", "correct horse")
                .await
                .unwrap()
                .id,
            ada.id
        );
    }

    #[tokio::test]
    async fn revoked_and_expired_tokens_are_refused_as_unknown_ones() {
        let workspace = store_workspace().await;
        let ada = workspace
            .create_user(NewUser {
                email: "ada@example.com".into(),
                name: "Ada".into(),
                role: Role::Owner,
                password: None,
            })
            .await
            .unwrap();
        let subject = TokenSubject::User(ada.id);
        let (token, secret) = workspace.issue_token(subject, "t", Some(30)).await.unwrap();
        assert_eq!(
            token.expires_time,
            Some(token.created_time + 30 * DAY_MS),
            "{token:?}"
        );
        assert!(workspace.authenticate(&secret).await.is_ok());
        let unknown = workspace
            .authenticate(&format!("{TOKEN_PREFIX}{}", "0".repeat(64)))
            .await
            .unwrap_err()
            .to_string();

        let revoked = workspace.revoke_any_token(token.id).await.unwrap();
        assert_eq!(
            token_status(&revoked, crate::clock::now_ms()),
            TokenStatus::Revoked
        );
        let error = workspace.authenticate(&secret).await.unwrap_err();
        assert_eq!(
            (error.code().as_str(), error.to_string()),
            ("unauthorized", unknown.clone())
        );
        // Revoking again keeps the first time.
        let again = workspace.revoke_any_token(token.id).await.unwrap();
        assert_eq!(again.revoked_time, revoked.revoked_time);

        // An expired token, written as the store would hold it a day after it expired.
        let expired_secret = new_token();
        let now = crate::clock::now_ms();
        let mut tx = workspace.store.write().await.unwrap();
        tx.insert_token(
            &hash_token(&expired_secret),
            &TokenRecord {
                id: Id::new(),
                subject,
                name: "old".into(),
                created_time: now - 2 * DAY_MS,
                expires_time: Some(now - DAY_MS),
                revoked_time: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let error = workspace.authenticate(&expired_secret).await.unwrap_err();
        assert_eq!(
            (error.code().as_str(), error.to_string()),
            ("unauthorized", unknown)
        );

        for days in [0, -1, TOKEN_EXPIRES_IN_DAYS_MAX + 1] {
            let error = workspace
                .issue_token(subject, "t", Some(days))
                .await
                .unwrap_err();
            assert_eq!(error.code().as_str(), "validation_error", "{days}: {error}");
        }
        let error = workspace
            .issue_token(subject, "  ", None)
            .await
            .unwrap_err();
        assert_eq!(error.code().as_str(), "validation_error");
        let listed = workspace.all_tokens(Some(ada.id)).await.unwrap();
        assert_eq!(listed.len(), 2);
    }
}
