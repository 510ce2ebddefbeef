//! The workspace service. Every operation on workspace content goes through here: it
//! authenticates the caller, decides access through the `access` module (and nowhere
//! else), validates input with the `document` domain, writes through the store in one
//! transaction with its change-log events, and audits decisions made for integrations.
//!
//! It knows neither SQL (that is `storage-sql`) nor JSON (that is `http-api`).

mod admin;
mod blocks;
mod comments;
mod content;
mod data;
mod error;
mod freshness;
mod pages;
mod request;
mod search;
mod session;
mod users;
mod webhooks;

pub mod clock;
pub mod demo;

pub use access::Grantee;
pub use access::{Actor, Capabilities, Level, Role};
pub use admin::{
    LOGIN_FAILURE_WINDOW_MS, LOGIN_FAILURES_PER_ACCOUNT_MAX, LOGIN_FAILURES_PER_ADDRESS_MAX,
    LOGIN_KEY_BYTES_MAX, LOGIN_LIMITER_KEYS_MAX, LOGIN_TRUSTED_ADDRESS_MS, LoginLimiter,
    LoginLimits, NewUser, TOKEN_EXPIRES_IN_DAYS_MAX, TOKEN_NAME_CHARS_MAX, TokenKind, TokenStatus,
    hash_token, require_owner, token_status,
};
pub use blocks::{AppendPosition, BlockView};
pub use comments::CommentTarget;
pub use content::{
    CHUNK_RESULTS_MAX, ChunkHit, ContentHit, ContentQuery, ContentSearch, ContentStatus,
    HighlightView, INDEXER_CONSUMER, IndexPass, IndexStats, PassageView, SearchMode,
    VECTOR_ROUND_DEFERRED_MAX_MS,
};
pub use data::{
    DataSourceUpdate, DataSourceView, DatabaseUpdate, DatabaseView, NewDataSource, NewDatabase,
    QueryRequest,
};
/// Records carry times as milliseconds since the epoch; callers render them with this.
pub use document::time;
/// Where a page goes and how a data source's schema changes: the domain's own types.
pub use document::{ParentRef, SchemaEdit};
pub use error::{Error, Result};
pub use freshness::{FreshnessSummary, LagStats};
pub use pages::{NewPage, PageMarkdown, PageUpdate, PageView};
pub use request::Page as ListPage;
pub use search::{SearchFilter, SearchRequest, SearchResult};
pub use session::Session;
pub use storage_sql::{
    AuditEntry, ChangeCursor, ChangeRecord, Comment, Store, TokenRecord, TokenSubject, UserKind,
    UserRecord,
};
pub use storage_sql::{
    Delivery, DeliveryStatus, Subscription, decode_capabilities, encode_capabilities,
};
pub use users::UserView;
pub use webhooks::{AttemptOutcome, EVENT_TYPES, NewSubscription};

/// The service over one workspace's store.
#[derive(Clone)]
pub struct Workspace {
    store: Store,
    /// Full-content search, when an embedder is configured.
    content: Option<std::sync::Arc<ContentSearch>>,
    /// Whether webhook subscriptions may name loopback and private-network hosts.
    webhook_allow_private_networks: bool,
}

impl Workspace {
    /// Wraps an opened store, creating the workspace record on first use.
    pub async fn new(store: Store) -> Result<Workspace> {
        let workspace = Workspace {
            store,
            content: None,
            webhook_allow_private_networks: false,
        };
        workspace.ensure_workspace("Trellis").await?;
        Ok(workspace)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Lets webhook subscriptions name loopback, private and other non-public hosts
    /// (`--webhook-allow-private-networks`, for development and tests). Delivery has its own
    /// switch, `webhooks::Config::allow_private_networks`; the binary sets both from one flag.
    pub fn allow_webhook_private_networks(mut self, allowed: bool) -> Workspace {
        self.webhook_allow_private_networks = allowed;
        self
    }
}
