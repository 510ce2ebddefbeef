//! Object ids. Every object (page, block, database, data source, user, group, integration,
//! comment) is identified by a UUID, as in Notion's API; pages and their `child_page` blocks
//! share one id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(Uuid);

impl Id {
    /// A new time-ordered id (UUIDv7), so that ids sort roughly by creation.
    pub fn new() -> Self {
        Id(Uuid::now_v7())
    }

    pub fn from_u128(value: u128) -> Self {
        Id(Uuid::from_u128(value))
    }

    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// Parses both the dashed form and Notion's 32-hex-digit form.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text.trim()).ok().map(Id)
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for Id {
    type Err = ();
    fn from_str(text: &str) -> std::result::Result<Self, ()> {
        Id::parse(text).ok_or(())
    }
}
