//! The manifest, `trellis.toml`: what an integration is, what it asks for (scopes, egress), what
//! it does with data, and what starts it. Parsed strictly: an unknown key is an error, so that
//! a typo never silently drops a declaration.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest integration name, in characters.
pub const NAME_CHARS_MAX: usize = 64;
/// Most schedules one manifest declares.
pub const SCHEDULES_MAX: usize = 16;
/// Most egress origins one manifest declares.
pub const EGRESS_ORIGINS_MAX: usize = 32;
/// Longest secret name, in bytes.
const SECRET_NAME_BYTES_MAX: usize = 128;
/// Fields of a cron expression: minute, hour, day of month, month, day of week.
const CRON_FIELDS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub integration: About,
    #[serde(default)]
    pub scopes: Scopes,
    #[serde(default)]
    pub egress: Egress,
    #[serde(default)]
    pub data_use: DataUse,
    #[serde(default)]
    pub triggers: Triggers,
    /// Per-integration overrides of the run limits, by `RunLimits` field name.
    #[serde(default)]
    pub limits: LimitOverrides,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct About {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub publisher: String,
    pub language: Language,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Javascript,
    Python,
}

/// A workspace capability, as Notion names integration capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceScope {
    ReadContent,
    UpdateContent,
    InsertContent,
    InsertComments,
}

impl WorkspaceScope {
    pub fn name(self) -> &'static str {
        match self {
            WorkspaceScope::ReadContent => "read_content",
            WorkspaceScope::UpdateContent => "update_content",
            WorkspaceScope::InsertContent => "insert_content",
            WorkspaceScope::InsertComments => "insert_comments",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scopes {
    #[serde(default)]
    pub workspace: Vec<WorkspaceScope>,
    #[serde(default)]
    pub kv: bool,
    /// Names of the secrets the integration reads.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub models: bool,
    #[serde(default)]
    pub vector_search: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// Origins (`https://api.example.com`, `https://*.example.org:8443`).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// What the integration does with data, shown to the admin at install.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataUse {
    #[serde(default)]
    pub reads: Vec<String>,
    #[serde(default)]
    pub stores: String,
    #[serde(default)]
    pub sends: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default = "yes")]
    pub invoke: bool,
    /// Change-log event types the integration is run for.
    #[serde(default)]
    pub changes: Vec<String>,
    #[serde(default)]
    pub schedule: Vec<Schedule>,
    #[serde(default)]
    pub webhook: bool,
}

fn yes() -> bool {
    true
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            invoke: true,
            changes: Vec::new(),
            schedule: Vec::new(),
            webhook: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub name: String,
    /// Five-field cron, in UTC.
    pub cron: String,
}

/// Limits an integration asks for; each is checked against the platform's ceiling at install.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub fuel_max: Option<u64>,
    pub memory_bytes_max: Option<u64>,
    pub wall_ms_max: Option<u64>,
    pub host_calls_max: Option<u64>,
    pub output_bytes_max: Option<u64>,
    pub outbound_requests_max: Option<u32>,
    pub kv_bytes_max: Option<u64>,
}

impl Manifest {
    /// Parses and validates `trellis.toml` text.
    pub fn parse(text: &str) -> Result<Manifest> {
        let manifest: Manifest = toml::from_str(text)
            .map_err(|error| Error::InvalidManifest(error.message().to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Reads a manifest stored as JSON (by [`Manifest::to_json`]).
    pub fn from_json(text: &str) -> Result<Manifest> {
        serde_json::from_str(text)
            .map_err(|error| Error::Internal(format!("stored manifest: {error}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidManifest(message));
        let name = &self.integration.name;
        if !is_valid_name(name) {
            return invalid(format!(
                "integration.name `{name}` should be 1 to {NAME_CHARS_MAX} lowercase letters, digits and '-'"
            ));
        }
        if !is_semver(&self.integration.version) {
            return invalid(format!(
                "integration.version `{}` should be a version like 1.2.3",
                self.integration.version
            ));
        }
        for secret in &self.scopes.secrets {
            if secret.is_empty()
                || secret.len() > SECRET_NAME_BYTES_MAX
                || !secret
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return invalid(format!(
                    "scopes.secrets: `{secret}` should be letters, digits, '_' and '-'"
                ));
            }
        }
        if self.egress.allow.len() > EGRESS_ORIGINS_MAX {
            return invalid(format!(
                "egress.allow: at most {EGRESS_ORIGINS_MAX} origins"
            ));
        }
        runtime::EgressPolicy::parse(&self.egress.allow)
            .map_err(|error| Error::InvalidManifest(format!("egress.allow: {error}")))?;
        for event in &self.triggers.changes {
            if !workspace::EVENT_TYPES.contains(&event.as_str()) {
                return invalid(format!(
                    "triggers.changes: `{event}` is not an event type (one of {})",
                    workspace::EVENT_TYPES.join(", ")
                ));
            }
        }
        if !self.triggers.changes.is_empty()
            && !self.scopes.workspace.contains(&WorkspaceScope::ReadContent)
        {
            return invalid(
                "triggers.changes needs the read_content workspace scope: change events name workspace objects".into(),
            );
        }
        if self.triggers.schedule.len() > SCHEDULES_MAX {
            return invalid(format!("triggers.schedule: at most {SCHEDULES_MAX}"));
        }
        let mut names = std::collections::HashSet::new();
        for schedule in &self.triggers.schedule {
            if schedule.name.is_empty() || !names.insert(schedule.name.as_str()) {
                return invalid(format!(
                    "triggers.schedule: names should be non-empty and unique (`{}`)",
                    schedule.name
                ));
            }
            parse_cron(&schedule.cron).map_err(|message| {
                Error::InvalidManifest(format!("triggers.schedule `{}`: {message}", schedule.name))
            })?;
        }
        Ok(())
    }
}

/// An integration name: 1 to [`NAME_CHARS_MAX`] lowercase letters, digits and '-', not starting
/// with '-'.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= NAME_CHARS_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

/// Parses a five-field cron expression (UTC).
pub fn parse_cron(text: &str) -> std::result::Result<croner::Cron, String> {
    if text.split_whitespace().count() != CRON_FIELDS {
        return Err(format!(
            "`{text}` should have five fields: minute hour day-of-month month day-of-week"
        ));
    }
    croner::Cron::from_str(text).map_err(|error| format!("`{text}`: {error}"))
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}
