//! Property values of pages, and their validation against a data source schema.

use serde::{Deserialize, Serialize};

use crate::data_source::{PropertyConfig, PropertySchema};
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::limits::{ARRAY_ITEMS_MAX, EMAIL_CHARS_MAX};
use crate::rich_text::{self, RichText};
use crate::time::{self, Instant};

/// A date or date range. `start` and `end` are ISO 8601 dates or date-times, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateValue {
    pub start: String,
    pub end: Option<String>,
    pub time_zone: Option<String>,
}

impl DateValue {
    pub fn on(start: impl Into<String>) -> Self {
        DateValue {
            start: start.into(),
            end: None,
            time_zone: None,
        }
    }

    pub fn start_instant(&self) -> Option<Instant> {
        time::parse_instant(&self.start)
    }

    pub fn validate(&self) -> Result<()> {
        let start = time::parse_instant(&self.start).ok_or_else(|| {
            Error::new(
                "start",
                format!(
                    "should be an ISO 8601 date or date-time, instead was `{}`",
                    self.start
                ),
            )
        })?;
        if let Some(end) = &self.end {
            let end = time::parse_instant(end).ok_or_else(|| {
                Error::new(
                    "end",
                    format!("should be an ISO 8601 date or date-time, instead was `{end}`"),
                )
            })?;
            if end.ms < start.ms {
                return Err(Error::new("end", "should not be before start"));
            }
        }
        Ok(())
    }
}

/// A stored property value. Computed properties (created_time, created_by, last_edited_*)
/// are not stored: they are derived from the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PropertyValue {
    Title(Vec<RichText>),
    RichText(Vec<RichText>),
    Number(Option<f64>),
    /// The chosen option's id.
    Select(Option<String>),
    MultiSelect(Vec<String>),
    Status(Option<String>),
    Date(Option<DateValue>),
    People(Vec<Id>),
    Checkbox(bool),
    Url(Option<String>),
    Email(Option<String>),
    PhoneNumber(Option<String>),
    Relation(Vec<Id>),
}

impl PropertyValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            PropertyValue::Title(_) => "title",
            PropertyValue::RichText(_) => "rich_text",
            PropertyValue::Number(_) => "number",
            PropertyValue::Select(_) => "select",
            PropertyValue::MultiSelect(_) => "multi_select",
            PropertyValue::Status(_) => "status",
            PropertyValue::Date(_) => "date",
            PropertyValue::People(_) => "people",
            PropertyValue::Checkbox(_) => "checkbox",
            PropertyValue::Url(_) => "url",
            PropertyValue::Email(_) => "email",
            PropertyValue::PhoneNumber(_) => "phone_number",
            PropertyValue::Relation(_) => "relation",
        }
    }

    /// The empty value of a property type, as a new row gets it.
    pub fn empty_for(config: &PropertyConfig) -> Option<PropertyValue> {
        Some(match config {
            PropertyConfig::Title => PropertyValue::Title(Vec::new()),
            PropertyConfig::RichText => PropertyValue::RichText(Vec::new()),
            PropertyConfig::Number { .. } => PropertyValue::Number(None),
            PropertyConfig::Select { .. } => PropertyValue::Select(None),
            PropertyConfig::MultiSelect { .. } => PropertyValue::MultiSelect(Vec::new()),
            PropertyConfig::Status { .. } => PropertyValue::Status(None),
            PropertyConfig::Date => PropertyValue::Date(None),
            PropertyConfig::People => PropertyValue::People(Vec::new()),
            PropertyConfig::Checkbox => PropertyValue::Checkbox(false),
            PropertyConfig::Url => PropertyValue::Url(None),
            PropertyConfig::Email => PropertyValue::Email(None),
            PropertyConfig::PhoneNumber => PropertyValue::PhoneNumber(None),
            PropertyConfig::Relation { .. } => PropertyValue::Relation(Vec::new()),
            PropertyConfig::CreatedTime
            | PropertyConfig::CreatedBy
            | PropertyConfig::LastEditedTime
            | PropertyConfig::LastEditedBy => return None,
        })
    }

    /// Checks a value against its property's schema. The field is the property's name.
    pub fn validate(&self, schema: &PropertySchema) -> Result<()> {
        let expected = schema.config.type_name();
        let mismatch = || {
            Error::new(
                schema.name.clone(),
                format!(
                    "is expected to be {expected}, instead was {}",
                    self.type_name()
                ),
            )
        };
        match (self, &schema.config) {
            (PropertyValue::Title(runs), PropertyConfig::Title)
            | (PropertyValue::RichText(runs), PropertyConfig::RichText) => {
                rich_text::validate(runs)
                    .map_err(|e| e.within(&format!("{}.{expected}", schema.name)))
            }
            (PropertyValue::Number(value), PropertyConfig::Number { .. }) => match value {
                Some(number) if !number.is_finite() => Err(Error::new(
                    format!("{}.number", schema.name),
                    "should be a finite number",
                )),
                _ => Ok(()),
            },
            (PropertyValue::Select(option), PropertyConfig::Select { options })
            | (PropertyValue::Status(option), PropertyConfig::Status { options, .. }) => {
                match option {
                    Some(id) if !options.iter().any(|o| &o.id == id) => Err(Error::new(
                        format!("{}.{expected}", schema.name),
                        "refers to an option that does not exist",
                    )),
                    _ => Ok(()),
                }
            }
            (PropertyValue::MultiSelect(ids), PropertyConfig::MultiSelect { options }) => {
                check_len(ids.len(), &schema.name, expected)?;
                match ids.iter().find(|id| !options.iter().any(|o| &o.id == *id)) {
                    Some(_) => Err(Error::new(
                        format!("{}.multi_select", schema.name),
                        "refers to an option that does not exist",
                    )),
                    None => Ok(()),
                }
            }
            (PropertyValue::Date(value), PropertyConfig::Date) => match value {
                Some(date) => date
                    .validate()
                    .map_err(|e| e.within(&format!("{}.date", schema.name))),
                None => Ok(()),
            },
            (PropertyValue::People(ids), PropertyConfig::People)
            | (PropertyValue::Relation(ids), PropertyConfig::Relation { .. }) => {
                check_len(ids.len(), &schema.name, expected)
            }
            (PropertyValue::Checkbox(_), PropertyConfig::Checkbox) => Ok(()),
            (PropertyValue::Url(value), PropertyConfig::Url) => match value {
                Some(url) => rich_text::validate_url(url)
                    .map_err(|e| e.within(&format!("{}.url", schema.name))),
                None => Ok(()),
            },
            (PropertyValue::Email(value), PropertyConfig::Email) => match value {
                Some(email) if email.chars().count() > EMAIL_CHARS_MAX || !email.contains('@') => {
                    Err(Error::new(
                        format!("{}.email", schema.name),
                        format!(
                            "should be an email address of at most {EMAIL_CHARS_MAX} characters"
                        ),
                    ))
                }
                _ => Ok(()),
            },
            (PropertyValue::PhoneNumber(value), PropertyConfig::PhoneNumber) => match value {
                Some(phone) if phone.chars().count() > EMAIL_CHARS_MAX => Err(Error::new(
                    format!("{}.phone_number", schema.name),
                    format!("length should be ≤ {EMAIL_CHARS_MAX}"),
                )),
                _ => Ok(()),
            },
            _ => Err(mismatch()),
        }
    }

    /// Plain text of the value, for search and Markdown front matter.
    pub fn plain_text(&self, schema: Option<&PropertySchema>) -> String {
        let option_name = |id: &String| -> String {
            schema
                .and_then(|s| s.config.options())
                .and_then(|options| options.iter().find(|o| &o.id == id))
                .map(|o| o.name.clone())
                .unwrap_or_default()
        };
        match self {
            PropertyValue::Title(runs) | PropertyValue::RichText(runs) => {
                rich_text::plain_text(runs)
            }
            PropertyValue::Number(value) => value.map(|n| n.to_string()).unwrap_or_default(),
            PropertyValue::Select(id) | PropertyValue::Status(id) => {
                id.as_ref().map(option_name).unwrap_or_default()
            }
            PropertyValue::MultiSelect(ids) => {
                ids.iter().map(option_name).collect::<Vec<_>>().join(", ")
            }
            PropertyValue::Date(value) => {
                value.as_ref().map(|d| d.start.clone()).unwrap_or_default()
            }
            PropertyValue::Checkbox(value) => value.to_string(),
            PropertyValue::Url(value)
            | PropertyValue::Email(value)
            | PropertyValue::PhoneNumber(value) => value.clone().unwrap_or_default(),
            PropertyValue::People(_) | PropertyValue::Relation(_) => String::new(),
        }
    }
}

fn check_len(len: usize, name: &str, type_name: &str) -> Result<()> {
    if len > ARRAY_ITEMS_MAX {
        return Err(Error::new(
            format!("{name}.{type_name}"),
            format!("should have at most {ARRAY_ITEMS_MAX} items, instead has {len}"),
        ));
    }
    Ok(())
}

/// An option named in a request: by id or by name.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionInput {
    Id(String),
    Name(String),
}

/// A property value as a request sends it, before options are resolved against the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyInput {
    Value(PropertyValue),
    Select(Option<OptionInput>),
    MultiSelect(Vec<OptionInput>),
    Status(Option<OptionInput>),
}

impl PropertyInput {
    /// Resolves option names to ids. Unknown select and multi-select names create new
    /// options in `schema` (as Notion does); unknown status names are an error.
    pub fn resolve(self, schema: &mut PropertySchema) -> Result<PropertyValue> {
        let field = format!("{}.{}", schema.name, schema.config.type_name());
        let is_status = matches!(schema.config, PropertyConfig::Status { .. });
        let resolve_one = |input: OptionInput, schema: &mut PropertySchema| -> Result<String> {
            let type_name = schema.config.type_name();
            let options = schema.config.options_mut().ok_or_else(|| {
                Error::new(field.clone(), format!("is expected to be {type_name}"))
            })?;
            match input {
                OptionInput::Id(id) => options
                    .iter()
                    .find(|o| o.id == id)
                    .map(|o| o.id.clone())
                    .ok_or_else(|| Error::new(field.clone(), format!("no option with id `{id}`"))),
                OptionInput::Name(name) => {
                    if let Some(option) = options.iter().find(|o| o.name == name) {
                        return Ok(option.id.clone());
                    }
                    if is_status {
                        return Err(Error::new(
                            field.clone(),
                            format!("no status option named `{name}`"),
                        ));
                    }
                    if name.contains(',') {
                        return Err(Error::new(
                            field.clone(),
                            format!("option name `{name}` should not contain a comma"),
                        ));
                    }
                    let option = crate::data_source::SelectOption {
                        id: crate::data_source::new_short_id(),
                        name,
                        color: crate::block::Color::Default,
                    };
                    let id = option.id.clone();
                    options.push(option);
                    Ok(id)
                }
            }
        };
        let value = match self {
            PropertyInput::Value(value) => value,
            PropertyInput::Select(option) => match schema.config {
                PropertyConfig::Select { .. } => {
                    PropertyValue::Select(option.map(|o| resolve_one(o, schema)).transpose()?)
                }
                _ => {
                    return Err(Error::new(
                        schema.name.clone(),
                        format!(
                            "is expected to be {}, instead was select",
                            schema.config.type_name()
                        ),
                    ));
                }
            },
            PropertyInput::Status(option) => match schema.config {
                PropertyConfig::Status { .. } => {
                    PropertyValue::Status(option.map(|o| resolve_one(o, schema)).transpose()?)
                }
                _ => {
                    return Err(Error::new(
                        schema.name.clone(),
                        format!(
                            "is expected to be {}, instead was status",
                            schema.config.type_name()
                        ),
                    ));
                }
            },
            PropertyInput::MultiSelect(options) => match schema.config {
                PropertyConfig::MultiSelect { .. } => {
                    check_len(options.len(), &schema.name, "multi_select")?;
                    PropertyValue::MultiSelect(
                        options
                            .into_iter()
                            .map(|o| resolve_one(o, schema))
                            .collect::<Result<Vec<_>>>()?,
                    )
                }
                _ => {
                    return Err(Error::new(
                        schema.name.clone(),
                        format!(
                            "is expected to be {}, instead was multi_select",
                            schema.config.type_name()
                        ),
                    ));
                }
            },
        };
        value.validate(schema)?;
        Ok(value)
    }
}
