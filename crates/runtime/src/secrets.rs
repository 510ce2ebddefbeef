//! The secrets capability: values an admin set for the installation. The runtime never logs
//! them, and removes any it handed out from the run's log entries.

use std::collections::HashMap;

use crate::run::RunContext;
use crate::workspace::HostError;

/// Reads an installation's secrets. The installation is `context.installation_id`.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, context: &RunContext, name: &str) -> Result<Option<String>, HostError>;
}

/// An in-memory [`SecretStore`] for tests and development: `(installation, name) -> value`.
#[derive(Debug, Default, Clone)]
pub struct MemorySecrets {
    values: HashMap<(String, String), String>,
}

impl MemorySecrets {
    pub fn new() -> MemorySecrets {
        MemorySecrets::default()
    }

    pub fn with(mut self, installation_id: &str, name: &str, value: &str) -> MemorySecrets {
        self.values.insert(
            (installation_id.to_string(), name.to_string()),
            value.to_string(),
        );
        self
    }
}

#[async_trait::async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, context: &RunContext, name: &str) -> Result<Option<String>, HostError> {
        Ok(self
            .values
            .get(&(context.installation_id.clone(), name.to_string()))
            .cloned())
    }
}

/// Replaces every secret value handed out in the run with `[redacted]` in `text`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_string();
    // Very short values would redact ordinary words; they are not worth hiding that way.
    for secret in secrets.iter().filter(|secret| secret.len() >= 4) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[redacted]");
        }
    }
    text
}
