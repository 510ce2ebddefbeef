//! Databases and their data sources (Notion's 2025-09-03 model): a database is a container
//! on a page; it holds one or more data sources, each with a typed property schema; rows
//! are pages whose parent is the data source.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::{Color, Icon};
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::limits::{PROPERTIES_PER_DATA_SOURCE_MAX, PROPERTY_NAME_CHARS_MAX};
use crate::page::{Parent, TITLE_PROPERTY_ID};
use crate::property::{DateValue, PropertyValue};
use crate::rich_text::{self, RichText};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectOption {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub color: Color,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusGroup {
    pub id: String,
    pub name: String,
    pub color: Color,
    pub option_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PropertyConfig {
    Title,
    RichText,
    Number {
        format: String,
    },
    Select {
        options: Vec<SelectOption>,
    },
    MultiSelect {
        options: Vec<SelectOption>,
    },
    Status {
        options: Vec<SelectOption>,
        groups: Vec<StatusGroup>,
    },
    Date,
    People,
    Checkbox,
    Url,
    Email,
    PhoneNumber,
    Relation {
        data_source_id: Id,
        database_id: Id,
    },
    CreatedTime,
    CreatedBy,
    LastEditedTime,
    LastEditedBy,
}

impl PropertyConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            PropertyConfig::Title => "title",
            PropertyConfig::RichText => "rich_text",
            PropertyConfig::Number { .. } => "number",
            PropertyConfig::Select { .. } => "select",
            PropertyConfig::MultiSelect { .. } => "multi_select",
            PropertyConfig::Status { .. } => "status",
            PropertyConfig::Date => "date",
            PropertyConfig::People => "people",
            PropertyConfig::Checkbox => "checkbox",
            PropertyConfig::Url => "url",
            PropertyConfig::Email => "email",
            PropertyConfig::PhoneNumber => "phone_number",
            PropertyConfig::Relation { .. } => "relation",
            PropertyConfig::CreatedTime => "created_time",
            PropertyConfig::CreatedBy => "created_by",
            PropertyConfig::LastEditedTime => "last_edited_time",
            PropertyConfig::LastEditedBy => "last_edited_by",
        }
    }

    pub fn options(&self) -> Option<&Vec<SelectOption>> {
        match self {
            PropertyConfig::Select { options }
            | PropertyConfig::MultiSelect { options }
            | PropertyConfig::Status { options, .. } => Some(options),
            _ => None,
        }
    }

    pub fn options_mut(&mut self) -> Option<&mut Vec<SelectOption>> {
        match self {
            PropertyConfig::Select { options }
            | PropertyConfig::MultiSelect { options }
            | PropertyConfig::Status { options, .. } => Some(options),
            _ => None,
        }
    }

    /// Whether the value is derived from the page rather than stored.
    pub fn is_computed(&self) -> bool {
        matches!(
            self,
            PropertyConfig::CreatedTime
                | PropertyConfig::CreatedBy
                | PropertyConfig::LastEditedTime
                | PropertyConfig::LastEditedBy
        )
    }

    /// The default status configuration Notion gives a new status property.
    pub fn default_status() -> PropertyConfig {
        let option = |id: &str, name: &str, color| SelectOption {
            id: id.to_string(),
            name: name.to_string(),
            color,
        };
        PropertyConfig::Status {
            options: vec![
                option("not-started", "Not started", Color::Default),
                option("in-progress", "In progress", Color::Blue),
                option("done", "Done", Color::Green),
            ],
            groups: vec![
                StatusGroup {
                    id: "to-do".into(),
                    name: "To-do".into(),
                    color: Color::Gray,
                    option_ids: vec!["not-started".into()],
                },
                StatusGroup {
                    id: "in-progress-group".into(),
                    name: "In progress".into(),
                    color: Color::Blue,
                    option_ids: vec!["in-progress".into()],
                },
                StatusGroup {
                    id: "complete".into(),
                    name: "Complete".into(),
                    color: Color::Green,
                    option_ids: vec!["done".into()],
                },
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertySchema {
    /// Stable id: survives renames. The title property's id is always `title`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub config: PropertyConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub id: Id,
    /// A page or the workspace.
    pub parent: Parent,
    pub title: Vec<RichText>,
    pub description: Vec<RichText>,
    pub icon: Option<Icon>,
    pub cover: Option<String>,
    pub is_inline: bool,
    pub in_trash: bool,
    pub is_locked: bool,
    pub created_time: Millis,
    pub created_by: Id,
    pub last_edited_time: Millis,
    pub last_edited_by: Id,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    pub id: Id,
    pub database_id: Id,
    pub title: Vec<RichText>,
    pub description: Vec<RichText>,
    pub icon: Option<Icon>,
    /// Properties in display order. Exactly one has type `title`.
    pub properties: Vec<PropertySchema>,
    pub in_trash: bool,
    pub created_time: Millis,
    pub created_by: Id,
    pub last_edited_time: Millis,
    pub last_edited_by: Id,
}

/// A new short property or option id, like Notion's four-character ids.
pub fn new_short_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut value = uuid::Uuid::new_v4().as_u128();
    let mut id = String::with_capacity(6);
    for _ in 0..6 {
        id.push(ALPHABET[(value % ALPHABET.len() as u128) as usize] as char);
        value /= ALPHABET.len() as u128;
    }
    id
}

impl DataSource {
    /// Finds a property by id or, failing that, by name (filters and updates accept both).
    pub fn property(&self, key: &str) -> Option<&PropertySchema> {
        self.properties
            .iter()
            .find(|p| p.id == key)
            .or_else(|| self.properties.iter().find(|p| p.name == key))
    }

    pub fn title_property(&self) -> Option<&PropertySchema> {
        self.properties
            .iter()
            .find(|p| matches!(p.config, PropertyConfig::Title))
    }

    /// Checks a whole schema: one title, unique names, limits, option names unique.
    pub fn validate_schema(properties: &[PropertySchema]) -> Result<()> {
        if properties.len() > PROPERTIES_PER_DATA_SOURCE_MAX {
            return Err(Error::new(
                "properties",
                format!(
                    "should have at most {PROPERTIES_PER_DATA_SOURCE_MAX} properties, instead has {}",
                    properties.len()
                ),
            ));
        }
        let titles = properties
            .iter()
            .filter(|p| matches!(p.config, PropertyConfig::Title))
            .count();
        if titles != 1 {
            return Err(Error::new(
                "properties",
                format!("should have exactly one title property, instead has {titles}"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for property in properties {
            let field = format!("properties.{}", property.name);
            if property.name.trim().is_empty() {
                return Err(Error::new(
                    "properties",
                    "property names should not be empty",
                ));
            }
            if property.name.chars().count() > PROPERTY_NAME_CHARS_MAX {
                return Err(Error::new(
                    field,
                    format!("name length should be ≤ {PROPERTY_NAME_CHARS_MAX}"),
                ));
            }
            if !names.insert(property.name.as_str()) {
                return Err(Error::new(field, "property names must be unique"));
            }
            if let Some(options) = property.config.options() {
                let mut option_names = std::collections::HashSet::new();
                for option in options {
                    if option.name.contains(',') {
                        return Err(Error::new(
                            field.clone(),
                            format!("option `{}` should not contain a comma", option.name),
                        ));
                    }
                    if !option_names.insert(option.name.as_str()) {
                        return Err(Error::new(
                            field.clone(),
                            format!("option `{}` appears twice", option.name),
                        ));
                    }
                }
            }
            if let PropertyConfig::Number { format } = &property.config
                && !NUMBER_FORMATS.contains(&format.as_str())
            {
                return Err(Error::new(
                    format!("{field}.number.format"),
                    format!("`{format}` is not a number format"),
                ));
            }
        }
        Ok(())
    }
}

pub const NUMBER_FORMATS: &[&str] = &[
    "number",
    "number_with_commas",
    "percent",
    "dollar",
    "euro",
    "pound",
    "yen",
    "ruble",
    "rupee",
    "won",
    "yuan",
    "real",
    "lira",
    "franc",
    "canadian_dollar",
    "australian_dollar",
    "swiss_franc",
];

/// Converts a stored value when its property changes type, keeping what can be kept.
/// `target` may gain options (text → select creates one option per distinct value).
/// Returns `Ok(None)` when the new type is computed (nothing stored), and an error naming
/// the value when it cannot be converted without loss of meaning.
pub fn convert_value(
    value: &PropertyValue,
    source: &PropertySchema,
    target: &mut PropertyConfig,
) -> Result<Option<PropertyValue>> {
    if target.is_computed() {
        return Ok(None);
    }
    let text = value.plain_text(Some(source));
    let field = || format!("properties.{}", source.name);
    let converted = match target {
        PropertyConfig::Title => PropertyValue::Title(text_runs(&text)),
        PropertyConfig::RichText => PropertyValue::RichText(match value {
            PropertyValue::Title(runs) | PropertyValue::RichText(runs) => runs.clone(),
            _ => text_runs(&text),
        }),
        PropertyConfig::Url => PropertyValue::Url(non_empty(text)),
        PropertyConfig::Email => PropertyValue::Email(non_empty(text)),
        PropertyConfig::PhoneNumber => PropertyValue::PhoneNumber(non_empty(text)),
        PropertyConfig::Number { .. } => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                PropertyValue::Number(None)
            } else {
                match trimmed.replace(',', "").parse::<f64>() {
                    Ok(number) if number.is_finite() => PropertyValue::Number(Some(number)),
                    _ => {
                        return Err(Error::new(
                            field(),
                            format!("value `{trimmed}` cannot be converted to a number"),
                        ));
                    }
                }
            }
        }
        PropertyConfig::Checkbox => {
            PropertyValue::Checkbox(match text.trim().to_lowercase().as_str() {
                "" | "false" | "no" | "0" | "unchecked" => false,
                "true" | "yes" | "1" | "checked" => true,
                other => {
                    return Err(Error::new(
                        field(),
                        format!("value `{other}` cannot be converted to a checkbox"),
                    ));
                }
            })
        }
        PropertyConfig::Date => {
            if text.trim().is_empty() {
                PropertyValue::Date(None)
            } else {
                let date = DateValue::on(text.trim());
                date.validate().map_err(|_| {
                    Error::new(
                        field(),
                        format!("value `{text}` cannot be converted to a date"),
                    )
                })?;
                PropertyValue::Date(Some(date))
            }
        }
        PropertyConfig::Select { options } | PropertyConfig::Status { options, .. } => {
            let names: Vec<String> = text
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if names.len() > 1 {
                return Err(Error::new(
                    field(),
                    format!("value `{text}` has several options and cannot become a single choice"),
                ));
            }
            let id = names.first().map(|name| option_id_for(options, name));
            if matches!(target, PropertyConfig::Status { .. }) {
                PropertyValue::Status(id)
            } else {
                PropertyValue::Select(id)
            }
        }
        PropertyConfig::MultiSelect { options } => {
            let names: Vec<String> = text
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            PropertyValue::MultiSelect(
                names
                    .iter()
                    .map(|name| option_id_for(options, name))
                    .collect(),
            )
        }
        PropertyConfig::People => match value {
            PropertyValue::People(ids) => PropertyValue::People(ids.clone()),
            _ if text.trim().is_empty() => PropertyValue::People(Vec::new()),
            _ => {
                return Err(Error::new(
                    field(),
                    "only empty values can be converted to people",
                ));
            }
        },
        PropertyConfig::Relation { .. } => match value {
            PropertyValue::Relation(ids) => PropertyValue::Relation(ids.clone()),
            _ if text.trim().is_empty() => PropertyValue::Relation(Vec::new()),
            _ => {
                return Err(Error::new(
                    field(),
                    "only empty values can be converted to a relation",
                ));
            }
        },
        PropertyConfig::CreatedTime
        | PropertyConfig::CreatedBy
        | PropertyConfig::LastEditedTime
        | PropertyConfig::LastEditedBy => {
            unreachable!("computed targets returned above")
        }
    };
    Ok(Some(converted))
}

fn text_runs(text: &str) -> Vec<RichText> {
    if text.is_empty() {
        return Vec::new();
    }
    // Split long text into runs that respect the per-run limit.
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(crate::limits::RICH_TEXT_CONTENT_CHARS_MAX)
        .map(|chunk| RichText::plain(chunk.iter().collect::<String>()))
        .collect()
}

fn non_empty(text: String) -> Option<String> {
    if text.trim().is_empty() {
        None
    } else {
        Some(text)
    }
}

fn option_id_for(options: &mut Vec<SelectOption>, name: &str) -> String {
    if let Some(option) = options.iter().find(|o| o.name == name) {
        return option.id.clone();
    }
    let option = SelectOption {
        id: new_short_id(),
        name: name.to_string(),
        color: Color::Default,
    };
    let id = option.id.clone();
    options.push(option);
    id
}

/// The stored values of a row, keyed by property id, with missing ones filled as empty.
pub fn complete_row_values(
    properties: &[PropertySchema],
    mut values: BTreeMap<String, PropertyValue>,
) -> BTreeMap<String, PropertyValue> {
    for property in properties {
        if let Some(empty) = PropertyValue::empty_for(&property.config) {
            values.entry(property.id.clone()).or_insert(empty);
        }
    }
    values.retain(|id, _| properties.iter().any(|p| &p.id == id));
    values
}

/// A standalone page's only property.
pub fn page_title_schema() -> PropertySchema {
    PropertySchema {
        id: TITLE_PROPERTY_ID.to_string(),
        name: "title".to_string(),
        description: String::new(),
        config: PropertyConfig::Title,
    }
}

pub fn title_plain(runs: &[RichText]) -> String {
    rich_text::plain_text(runs)
}

/// One entry of the `properties` object of `PATCH /v1/data_sources/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaEdit {
    /// `"<name or id>": null`.
    Remove,
    /// `"<name or id>": {"name": ..., "<type>": {...}}`, either part optional but not both.
    /// When the key names no existing property and `config` is given, the caller adds one.
    Update {
        name: Option<String>,
        config: Option<PropertyConfig>,
    },
}
