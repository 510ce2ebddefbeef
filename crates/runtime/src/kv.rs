//! The per-installation key-value capability. Reads go to a [`KvStore`]; writes are staged in
//! the run (reads in the same run see them) and returned as [`KvWrite`]s when the run ends `ok`,
//! for the caller to apply in the same transaction as the workspace writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::run::RunContext;
use crate::workspace::HostError;

/// The longest key, in bytes.
pub const KEY_BYTES_MAX: usize = 256;
/// The most keys one `list-keys` returns.
pub const LIST_KEYS_MAX: usize = 1_000;

/// Reads an installation's stored keys. The installation is `context.installation_id`.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync {
    async fn get(&self, context: &RunContext, key: &str) -> Result<Option<Vec<u8>>, HostError>;

    /// Keys starting with `prefix`, in byte order, at most `limit`.
    async fn list_keys(
        &self,
        context: &RunContext,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, HostError>;

    /// Bytes of all keys plus values the installation stores.
    async fn usage_bytes(&self, context: &RunContext) -> Result<u64, HostError>;
}

/// A staged change to the key-value store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvWrite {
    Set { key: String, value: Vec<u8> },
    Delete { key: String },
}

/// An in-memory [`KvStore`] for tests and development.
#[derive(Debug, Default)]
pub struct MemoryKv {
    installations: Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryKv {
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    /// Applies a run's writes, as the caller does in its transaction.
    pub fn apply(&self, installation_id: &str, writes: &[KvWrite]) {
        let mut installations = self.installations.lock().expect("kv lock");
        let keys = installations
            .entry(installation_id.to_string())
            .or_default();
        for write in writes {
            match write {
                KvWrite::Set { key, value } => {
                    keys.insert(key.clone(), value.clone());
                }
                KvWrite::Delete { key } => {
                    keys.remove(key);
                }
            }
        }
    }

    fn read<T>(
        &self,
        installation_id: &str,
        read: impl FnOnce(&BTreeMap<String, Vec<u8>>) -> T,
    ) -> T {
        let installations = self.installations.lock().expect("kv lock");
        match installations.get(installation_id) {
            Some(keys) => read(keys),
            None => read(&BTreeMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, context: &RunContext, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.read(&context.installation_id, |keys| keys.get(key).cloned()))
    }

    async fn list_keys(
        &self,
        context: &RunContext,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, HostError> {
        Ok(self.read(&context.installation_id, |keys| {
            keys.range(prefix.to_string()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .take(limit)
                .map(|(key, _)| key.clone())
                .collect()
        }))
    }

    async fn usage_bytes(&self, context: &RunContext) -> Result<u64, HostError> {
        Ok(self.read(&context.installation_id, |keys| {
            keys.iter()
                .map(|(key, value)| (key.len() + value.len()) as u64)
                .sum()
        }))
    }
}

/// The run's view of the store: staged writes over the stored keys. Pure bookkeeping; the
/// caller does the store reads.
#[derive(Debug, Default)]
pub(crate) struct KvOverlay {
    /// The latest staged value of each key written in the run; `None` for a delete.
    staged: BTreeMap<String, Option<Vec<u8>>>,
    writes: Vec<KvWrite>,
    /// Usage in bytes as stored before the run plus the staged changes; known after the first
    /// write.
    usage_bytes: Option<u64>,
}

impl KvOverlay {
    /// The staged value of `key`: `Some(None)` when deleted in this run, `None` when untouched.
    pub(crate) fn staged(&self, key: &str) -> Option<Option<&[u8]>> {
        self.staged.get(key).map(|value| value.as_deref())
    }

    pub(crate) fn usage_bytes(&self) -> Option<u64> {
        self.usage_bytes
    }

    pub(crate) fn set_usage_bytes(&mut self, usage_bytes: u64) {
        self.usage_bytes = Some(usage_bytes);
    }

    /// Stages a write, given the key's current value (staged or stored), and the quota. Returns
    /// the usage it would reach when that is over the quota.
    pub(crate) fn stage(
        &mut self,
        write: KvWrite,
        current_value_bytes: Option<u64>,
        kv_bytes_max: u64,
    ) -> Result<(), u64> {
        let usage = self.usage_bytes.unwrap_or(0);
        let (key, new_value) = match &write {
            KvWrite::Set { key, value } => (key, Some(value)),
            KvWrite::Delete { key } => (key, None),
        };
        let before = current_value_bytes.map_or(0, |bytes| key.len() as u64 + bytes);
        let after = new_value.map_or(0, |value| (key.len() + value.len()) as u64);
        let usage_after = (usage + after).saturating_sub(before);
        if after > before && usage_after > kv_bytes_max {
            return Err(usage_after);
        }
        self.usage_bytes = Some(usage_after);
        self.staged.insert(key.clone(), new_value.cloned());
        self.writes.push(write);
        Ok(())
    }

    /// Merges stored keys with the staged ones for `list-keys`.
    pub(crate) fn list(&self, stored: Vec<String>, prefix: &str, limit: usize) -> Vec<String> {
        let mut keys: std::collections::BTreeSet<String> = stored
            .into_iter()
            .filter(|key| !matches!(self.staged.get(key), Some(None)))
            .collect();
        for (key, value) in &self.staged {
            if value.is_some() && key.starts_with(prefix) {
                keys.insert(key.clone());
            }
        }
        keys.into_iter().take(limit).collect()
    }

    pub(crate) fn into_writes(self) -> Vec<KvWrite> {
        self.writes
    }
}
