//! The JSON records stored in `nodes.data`. They wrap the domain's own serde derives and add
//! the fields that are not columns. Changing them needs a migration of stored data.

use std::collections::BTreeMap;

use document::block::BlockKind;
use document::data_source::PropertySchema;
use document::{Icon, Id, PropertyValue, RichText};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
pub struct PageRecord {
    pub properties: BTreeMap<String, PropertyValue>,
    #[serde(default)]
    pub icon: Option<Icon>,
    #[serde(default)]
    pub cover: Option<String>,
    #[serde(default)]
    pub is_locked: bool,
    /// For rows: the database holding the parent data source.
    #[serde(default)]
    pub database_id: Option<Id>,
}

#[derive(Serialize, Deserialize)]
pub struct DatabaseRecord {
    pub title: Vec<RichText>,
    #[serde(default)]
    pub description: Vec<RichText>,
    #[serde(default)]
    pub icon: Option<Icon>,
    #[serde(default)]
    pub cover: Option<String>,
    #[serde(default)]
    pub is_inline: bool,
    #[serde(default)]
    pub is_locked: bool,
}

#[derive(Serialize, Deserialize)]
pub struct DataSourceRecord {
    pub title: Vec<RichText>,
    #[serde(default)]
    pub description: Vec<RichText>,
    #[serde(default)]
    pub icon: Option<Icon>,
    pub properties: Vec<PropertySchema>,
}

#[derive(Serialize, Deserialize)]
pub struct BlockRecord {
    pub kind: BlockKind,
}

pub fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(format!("cannot encode record: {e}")))
}

pub fn decode<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{what} record: {e}")))
}
