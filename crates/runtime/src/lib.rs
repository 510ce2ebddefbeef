//! Runs Trellis integrations: WebAssembly components of the `trellis:integration` world
//! (`wit/world.wit`), sandboxed under wasmtime, with limits on everything and transactional
//! writes.
//!
//! The workspace service implements [`WorkspaceHost`], [`KvStore`] and [`SecretStore`], loads a
//! component with [`Runtime::load`], and calls [`Runtime::run`] with a [`RunRequest`]. It gets a
//! [`RunOutcome`]: the [`RunRecord`] to keep and, when the run ended `ok`, the ordered
//! [`WriteOp`]s and [`KvWrite`]s to apply in one transaction.

mod cache;
mod engine;
mod error;
mod host;
mod http;
mod kv;
mod limits;
mod meter;
mod run;
mod secrets;
mod workspace;

pub use cache::ComponentDigest;
pub use engine::{Capability, LoadedComponent, Runtime, tune_pool};
pub use error::{Error, Result};
pub use http::{AddressClass, EgressPolicy, HostPattern, Origin, Scheme};
pub use kv::{KEY_BYTES_MAX, KvStore, KvWrite, LIST_KEYS_MAX, MemoryKv};
pub use limits::{RunLimits, RuntimeConfig};
pub use run::{
    Denial, Event, Grants, InvokeSource, LogEntry, LogLevel, OutboundRequest, Output, RunContext,
    RunOutcome, RunRecord, RunRequest, RunStatus, Services, Trigger, Usage, WebhookRequest,
    WebhookResponse,
};
pub use secrets::{MemorySecrets, SecretStore};
pub use workspace::{
    Block, BlockChildren, Content, DataSourceQuery, EmptyWorkspace, HostError, ObjectKind, Page,
    Parent, QueryResults, SearchHit, SearchQuery, SearchResults, VectorHit, WorkspaceHost,
    WorkspaceScopes, WriteOp,
};
