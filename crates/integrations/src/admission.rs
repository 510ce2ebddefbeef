//! Whether runs may start now: each installation's concurrency and hourly limits, read once
//! per pass in the transaction that starts the runs. Both the change dispatcher and the claim
//! pass admit through it.

use std::collections::HashMap;
use std::sync::Arc;

use document::Id;

use crate::record::InstallConfig;
use crate::registry::{Installations, Registry};
use crate::{Result, budget};

/// Each installation's record and config, its runs holding a lease, and its starts in the last
/// hour. Each admitted run counts against its installation at once, so one pass can't
/// overshoot.
pub(crate) struct Admission {
    pub(crate) installations: Arc<Installations>,
    running: HashMap<Id, i64>,
    started: HashMap<Id, i64>,
}

/// What [`Admission::admit`] decided for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// It may start; counted against its installation.
    Start,
    /// Its installation is at its concurrency or hourly limit: it waits in the queue.
    Wait,
    /// Its installation is gone.
    Unknown,
}

impl Admission {
    pub(crate) async fn read(
        tx: &mut storage_sql::Tx,
        now: i64,
        registry: &Registry,
    ) -> Result<Admission> {
        let installations = registry.installations_at(tx).await?;
        let running = tx.running_counts(now).await?.into_iter().collect();
        let counts = tx
            .run_start_counts(budget::hour_start(now) - budget::HOUR_MS, None)
            .await?;
        Ok(Admission {
            installations,
            running,
            started: budget::estimates(&counts, now),
        })
    }

    /// The installation's config; `None` for an installation that is gone, an error for one
    /// whose config doesn't parse.
    pub(crate) fn config(&self, installation_id: Id) -> Result<Option<Arc<InstallConfig>>> {
        self.installations.config(installation_id)
    }

    pub(crate) fn admit(&mut self, installation_id: Id) -> Result<Admit> {
        let Some(config) = self.config(installation_id)? else {
            return Ok(Admit::Unknown);
        };
        let active = self.running.entry(installation_id).or_default();
        let hour = self.started.entry(installation_id).or_default();
        if *active >= config.concurrent_runs_max || *hour >= config.runs_per_hour_max {
            return Ok(Admit::Wait);
        }
        *active += 1;
        *hour += 1;
        Ok(Admit::Start)
    }
}
