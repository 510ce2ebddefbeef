//! The integration platform. Developers register a package (a `trellis.toml` manifest and a
//! WebAssembly component); review checks that the component imports only what the manifest
//! declares; an owner installs it with the scopes and egress they grant; runs are queued
//! durably, claimed with a lease, executed by the `runtime` crate under limits, and finished in
//! one transaction with their workspace writes, key-value writes, usage events and record.
//!
//! Every run acts as [`access::Actor::Delegated`]: the invoking user (for schedule and change
//! runs, the user who installed) intersected with the installation's integration, whose
//! capabilities are the granted scopes and whose reach is the pages shared with it. Access is
//! decided in the `workspace` service, the one place that decides it, and audited there.

mod admission;
pub mod budget;
mod dispatcher;
mod error;
mod executor;
mod host;
mod manifest;
mod platform;
mod record;
mod registry;
mod writes;

pub use dispatcher::TRIGGER_CONSUMER;
pub use error::{Error, Result};
pub use host::{StoreKv, StoreSecrets, WorkspaceBridge};
pub use manifest::{
    About, DataUse, Egress, Language, LimitOverrides, Manifest, Schedule, Scopes, Triggers,
    WorkspaceScope, is_valid_name, parse_cron,
};
pub use platform::{Platform, PlatformLimits, RUNS_PAGE_MAX};
pub use record::{InstallConfig, RunView};
pub use registry::{InstallRequest, InstallationView, PackageView};
/// A run's status, as [`RunView::status`] gives it.
pub use storage_sql::RunStatus;
