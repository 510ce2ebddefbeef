//! The filter and sort language over data source rows.
//!
//! A request's filter ([`Filter`]) names properties by name or id and compares against the
//! values a client sees (option names, dates as text). [`Filter::resolve`] checks it against
//! the data source's schema and lowers it to [`Predicate`]s over a row's *index entries*
//! ([`index_entries`]). The store evaluates the same predicates in SQL over an entries table;
//! [`Predicate::matches`] evaluates them in memory. Both read the same entries, which is
//! what lets a property test hold them to the same answers.

use crate::data_source::{DataSource, PropertyConfig};
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::limits::{ARRAY_ITEMS_MAX, FILTER_NESTING_LEVELS_MAX};
use crate::page::Page;
use crate::property::PropertyValue;
use crate::time::{self, DAY_MS, Millis};

// ----- the request's filter --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    /// `property` is a property name or id; `type_name` is the type key the client used
    /// (`"select"`, `"rich_text"`, ...) and must agree with the property's type.
    Property {
        property: String,
        type_name: String,
        condition: Condition,
    },
    Timestamp {
        kind: TimestampKind,
        condition: DateCondition,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampKind {
    CreatedTime,
    LastEditedTime,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Text(TextCondition),
    Number(NumberCondition),
    Checkbox {
        equals: bool,
    },
    /// select and status: compares option names.
    Option(OptionCondition),
    /// multi_select: compares option names.
    Contains(ContainsCondition<String>),
    Date(DateCondition),
    /// people, created_by, last_edited_by, relation.
    ContainsId(ContainsCondition<Id>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TextCondition {
    Equals(String),
    DoesNotEqual(String),
    Contains(String),
    DoesNotContain(String),
    StartsWith(String),
    EndsWith(String),
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NumberCondition {
    Equals(f64),
    DoesNotEqual(f64),
    GreaterThan(f64),
    LessThan(f64),
    GreaterThanOrEqualTo(f64),
    LessThanOrEqualTo(f64),
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OptionCondition {
    Equals(String),
    DoesNotEqual(String),
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContainsCondition<T> {
    Contains(T),
    DoesNotContain(T),
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DateCondition {
    Equals(String),
    Before(String),
    After(String),
    OnOrBefore(String),
    OnOrAfter(String),
    IsEmpty,
    IsNotEmpty,
    PastWeek,
    PastMonth,
    PastYear,
    ThisWeek,
    NextWeek,
    NextMonth,
    NextYear,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortDirection {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Sort {
    Property {
        property: String,
        direction: SortDirection,
    },
    Timestamp {
        kind: TimestampKind,
        direction: SortDirection,
    },
}

// ----- index entries ---------------------------------------------------------------------

/// Pseudo property ids for values every row has. The `:` cannot occur in generated ids.
pub const CREATED_TIME_KEY: &str = ":created_time";
pub const LAST_EDITED_TIME_KEY: &str = ":last_edited_time";
pub const CREATED_BY_KEY: &str = ":created_by";
pub const LAST_EDITED_BY_KEY: &str = ":last_edited_by";

/// One indexed value of one property of a row. Multi-valued properties (multi_select,
/// people, relation) have one entry per value, numbered by `ordinal`; sorts use ordinal 0.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub property_id: String,
    pub ordinal: u32,
    /// Exact text: plain text, an option id, or an id.
    pub text: Option<String>,
    /// Lower-cased text for `contains`-style tests and text sorts (an option's name for options).
    pub folded: Option<String>,
    pub number: Option<f64>,
}

impl IndexEntry {
    fn text(property_id: &str, ordinal: u32, text: String, folded: String) -> Self {
        IndexEntry {
            property_id: property_id.to_string(),
            ordinal,
            text: Some(text),
            folded: Some(folded),
            number: None,
        }
    }

    fn number(property_id: &str, number: f64) -> Self {
        IndexEntry {
            property_id: property_id.to_string(),
            ordinal: 0,
            text: None,
            folded: None,
            number: Some(number),
        }
    }
}

pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The index entries of a row. Empty values have no entry, so `is_empty` is "no entry".
pub fn index_entries(page: &Page, data_source: &DataSource) -> Vec<IndexEntry> {
    let mut entries = vec![
        IndexEntry::number(CREATED_TIME_KEY, page.created_time as f64),
        IndexEntry::number(LAST_EDITED_TIME_KEY, page.last_edited_time as f64),
        IndexEntry::text(
            CREATED_BY_KEY,
            0,
            page.created_by.to_string(),
            page.created_by.to_string(),
        ),
        IndexEntry::text(
            LAST_EDITED_BY_KEY,
            0,
            page.last_edited_by.to_string(),
            page.last_edited_by.to_string(),
        ),
    ];
    for property in &data_source.properties {
        let Some(value) = page.properties.get(&property.id) else {
            continue;
        };
        let id = property.id.as_str();
        let option_name = |option_id: &String| {
            property
                .config
                .options()
                .and_then(|options| options.iter().find(|o| &o.id == option_id))
                .map(|o| fold(&o.name))
                .unwrap_or_default()
        };
        match value {
            PropertyValue::Title(_)
            | PropertyValue::RichText(_)
            | PropertyValue::Url(_)
            | PropertyValue::Email(_)
            | PropertyValue::PhoneNumber(_) => {
                let text = value.plain_text(Some(property));
                if !text.is_empty() {
                    let folded = fold(&text);
                    entries.push(IndexEntry::text(id, 0, text, folded));
                }
            }
            PropertyValue::Number(Some(number)) => entries.push(IndexEntry::number(id, *number)),
            PropertyValue::Number(None) => {}
            PropertyValue::Checkbox(checked) => {
                entries.push(IndexEntry::number(id, if *checked { 1.0 } else { 0.0 }))
            }
            PropertyValue::Select(Some(option)) | PropertyValue::Status(Some(option)) => {
                entries.push(IndexEntry::text(id, 0, option.clone(), option_name(option)))
            }
            PropertyValue::Select(None) | PropertyValue::Status(None) => {}
            PropertyValue::MultiSelect(options) => {
                for (ordinal, option) in options.iter().enumerate() {
                    entries.push(IndexEntry::text(
                        id,
                        ordinal as u32,
                        option.clone(),
                        option_name(option),
                    ));
                }
            }
            PropertyValue::Date(Some(date)) => {
                if let Some(instant) = date.start_instant() {
                    entries.push(IndexEntry::number(id, instant.ms as f64));
                }
            }
            PropertyValue::Date(None) => {}
            PropertyValue::People(ids) | PropertyValue::Relation(ids) => {
                for (ordinal, other) in ids.iter().enumerate() {
                    entries.push(IndexEntry::text(
                        id,
                        ordinal as u32,
                        other.to_string(),
                        other.to_string(),
                    ));
                }
            }
        }
    }
    entries
}

// ----- the lowered form ------------------------------------------------------------------

/// A test on one index entry.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryTest {
    /// Any entry at all (the value is not empty).
    Any,
    TextEquals(String),
    FoldedContains(String),
    FoldedStartsWith(String),
    FoldedEndsWith(String),
    NumberEquals(f64),
    NumberLess(f64),
    NumberLessOrEqual(f64),
    NumberGreater(f64),
    NumberGreaterOrEqual(f64),
    /// `lo <= number < hi`.
    NumberInRange(f64, f64),
}

impl EntryTest {
    pub fn matches(&self, entry: &IndexEntry) -> bool {
        let folded = entry.folded.as_deref();
        let number = entry.number;
        match self {
            EntryTest::Any => true,
            EntryTest::TextEquals(text) => entry.text.as_deref() == Some(text.as_str()),
            EntryTest::FoldedContains(text) => folded.is_some_and(|f| f.contains(text.as_str())),
            EntryTest::FoldedStartsWith(text) => {
                folded.is_some_and(|f| f.starts_with(text.as_str()))
            }
            EntryTest::FoldedEndsWith(text) => folded.is_some_and(|f| f.ends_with(text.as_str())),
            EntryTest::NumberEquals(value) => number.is_some_and(|n| n == *value),
            EntryTest::NumberLess(value) => number.is_some_and(|n| n < *value),
            EntryTest::NumberLessOrEqual(value) => number.is_some_and(|n| n <= *value),
            EntryTest::NumberGreater(value) => number.is_some_and(|n| n > *value),
            EntryTest::NumberGreaterOrEqual(value) => number.is_some_and(|n| n >= *value),
            EntryTest::NumberInRange(lo, hi) => number.is_some_and(|n| n >= *lo && n < *hi),
        }
    }
}

/// A filter lowered to tests over index entries.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    /// Some entry of `property_id` passes `test` (or, when `negated`, none does).
    Entry {
        property_id: String,
        test: EntryTest,
        negated: bool,
    },
}

impl Predicate {
    fn exists(property_id: &str, test: EntryTest) -> Self {
        Predicate::Entry {
            property_id: property_id.to_string(),
            test,
            negated: false,
        }
    }

    fn not_exists(property_id: &str, test: EntryTest) -> Self {
        Predicate::Entry {
            property_id: property_id.to_string(),
            test,
            negated: true,
        }
    }

    /// Evaluates against a row's entries (the in-memory reference the SQL must agree with).
    pub fn matches(&self, entries: &[IndexEntry]) -> bool {
        match self {
            Predicate::And(parts) => parts.iter().all(|p| p.matches(entries)),
            Predicate::Or(parts) => parts.iter().any(|p| p.matches(entries)),
            Predicate::Entry {
                property_id,
                test,
                negated,
            } => {
                let found = entries
                    .iter()
                    .any(|e| &e.property_id == property_id && test.matches(e));
                found != *negated
            }
        }
    }
}

/// How a sort key compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKeyKind {
    Number,
    Folded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSort {
    pub property_id: String,
    pub key: SortKeyKind,
    pub descending: bool,
}

fn type_accepts(config: &PropertyConfig, type_name: &str) -> bool {
    config.type_name() == type_name
}

impl Filter {
    /// Checks the filter against the schema and lowers it. `now` anchors relative dates.
    pub fn resolve(&self, data_source: &DataSource, now: Millis) -> Result<Predicate> {
        self.resolve_at(data_source, now, 0, "filter")
    }

    fn resolve_at(
        &self,
        data_source: &DataSource,
        now: Millis,
        depth: usize,
        field: &str,
    ) -> Result<Predicate> {
        match self {
            Filter::And(parts) | Filter::Or(parts) => {
                let key = if matches!(self, Filter::And(_)) {
                    "and"
                } else {
                    "or"
                };
                if depth >= FILTER_NESTING_LEVELS_MAX {
                    return Err(Error::new(
                        format!("{field}.{key}"),
                        format!(
                            "compound filters may be nested at most {FILTER_NESTING_LEVELS_MAX} levels deep"
                        ),
                    ));
                }
                if parts.len() > ARRAY_ITEMS_MAX {
                    return Err(Error::new(
                        format!("{field}.{key}"),
                        format!("should have at most {ARRAY_ITEMS_MAX} items"),
                    ));
                }
                let resolved = parts
                    .iter()
                    .enumerate()
                    .map(|(index, part)| {
                        part.resolve_at(
                            data_source,
                            now,
                            depth + 1,
                            &format!("{field}.{key}[{index}]"),
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(if key == "and" {
                    Predicate::And(resolved)
                } else {
                    Predicate::Or(resolved)
                })
            }
            Filter::Timestamp { kind, condition } => {
                let key = match kind {
                    TimestampKind::CreatedTime => CREATED_TIME_KEY,
                    TimestampKind::LastEditedTime => LAST_EDITED_TIME_KEY,
                };
                date_predicate(key, condition, now).map_err(|e| e.within(field))
            }
            Filter::Property {
                property,
                type_name,
                condition,
            } => {
                let Some(schema) = data_source.property(property) else {
                    return Err(Error::new(
                        format!("{field}.property"),
                        format!("Could not find property with name or id: {property}"),
                    ));
                };
                if !type_accepts(&schema.config, type_name) {
                    return Err(Error::new(
                        format!("{field}.{type_name}"),
                        format!(
                            "property `{}` is of type {}, so the filter must use `{}`, not `{type_name}`",
                            schema.name,
                            schema.config.type_name(),
                            schema.config.type_name()
                        ),
                    ));
                }
                let id = match schema.config {
                    PropertyConfig::CreatedTime => CREATED_TIME_KEY,
                    PropertyConfig::LastEditedTime => LAST_EDITED_TIME_KEY,
                    PropertyConfig::CreatedBy => CREATED_BY_KEY,
                    PropertyConfig::LastEditedBy => LAST_EDITED_BY_KEY,
                    _ => schema.id.as_str(),
                };
                let mismatch = || {
                    Error::new(
                        format!("{field}.{type_name}"),
                        format!(
                            "this condition does not apply to a {} property",
                            schema.config.type_name()
                        ),
                    )
                };
                match (&schema.config, condition) {
                    (
                        PropertyConfig::Title
                        | PropertyConfig::RichText
                        | PropertyConfig::Url
                        | PropertyConfig::Email
                        | PropertyConfig::PhoneNumber,
                        Condition::Text(text),
                    ) => Ok(text_predicate(id, text)),
                    (PropertyConfig::Number { .. }, Condition::Number(number)) => {
                        Ok(number_predicate(id, number))
                    }
                    (PropertyConfig::Checkbox, Condition::Checkbox { equals }) => {
                        // Rows created before the property existed have no entry: unchecked.
                        Ok(if *equals {
                            Predicate::exists(id, EntryTest::NumberEquals(1.0))
                        } else {
                            Predicate::not_exists(id, EntryTest::NumberEquals(1.0))
                        })
                    }
                    (
                        PropertyConfig::Select { options } | PropertyConfig::Status { options, .. },
                        Condition::Option(option),
                    ) => {
                        let option_id = |name: &String| {
                            options
                                .iter()
                                .find(|o| &o.name == name)
                                .map(|o| o.id.clone())
                                .unwrap_or_else(|| format!(":missing:{name}"))
                        };
                        Ok(match option {
                            OptionCondition::Equals(name) => {
                                Predicate::exists(id, EntryTest::TextEquals(option_id(name)))
                            }
                            OptionCondition::DoesNotEqual(name) => {
                                Predicate::not_exists(id, EntryTest::TextEquals(option_id(name)))
                            }
                            OptionCondition::IsEmpty => Predicate::not_exists(id, EntryTest::Any),
                            OptionCondition::IsNotEmpty => Predicate::exists(id, EntryTest::Any),
                        })
                    }
                    (PropertyConfig::MultiSelect { options }, Condition::Contains(contains)) => {
                        let option_id = |name: &String| {
                            options
                                .iter()
                                .find(|o| &o.name == name)
                                .map(|o| o.id.clone())
                                .unwrap_or_else(|| format!(":missing:{name}"))
                        };
                        Ok(contains_predicate(id, contains, |name| option_id(name)))
                    }
                    (
                        PropertyConfig::Date
                        | PropertyConfig::CreatedTime
                        | PropertyConfig::LastEditedTime,
                        Condition::Date(date),
                    ) => date_predicate(id, date, now)
                        .map_err(|e| e.within(&format!("{field}.{type_name}"))),
                    (
                        PropertyConfig::People
                        | PropertyConfig::CreatedBy
                        | PropertyConfig::LastEditedBy
                        | PropertyConfig::Relation { .. },
                        Condition::ContainsId(contains),
                    ) => Ok(contains_predicate(id, contains, |other| other.to_string())),
                    _ => Err(mismatch()),
                }
            }
        }
    }
}

fn text_predicate(id: &str, condition: &TextCondition) -> Predicate {
    // An empty operand for a substring test matches every non-empty value, in SQL as here.
    let substring = |operand: &String, test: fn(String) -> EntryTest| {
        if operand.is_empty() {
            EntryTest::Any
        } else {
            test(fold(operand))
        }
    };
    match condition {
        TextCondition::Equals(text) => Predicate::exists(id, EntryTest::TextEquals(text.clone())),
        TextCondition::DoesNotEqual(text) => {
            Predicate::not_exists(id, EntryTest::TextEquals(text.clone()))
        }
        TextCondition::Contains(text) => {
            Predicate::exists(id, substring(text, EntryTest::FoldedContains))
        }
        TextCondition::DoesNotContain(text) => {
            Predicate::not_exists(id, substring(text, EntryTest::FoldedContains))
        }
        TextCondition::StartsWith(text) => {
            Predicate::exists(id, substring(text, EntryTest::FoldedStartsWith))
        }
        TextCondition::EndsWith(text) => {
            Predicate::exists(id, substring(text, EntryTest::FoldedEndsWith))
        }
        TextCondition::IsEmpty => Predicate::not_exists(id, EntryTest::Any),
        TextCondition::IsNotEmpty => Predicate::exists(id, EntryTest::Any),
    }
}

fn number_predicate(id: &str, condition: &NumberCondition) -> Predicate {
    match condition {
        NumberCondition::Equals(n) => Predicate::exists(id, EntryTest::NumberEquals(*n)),
        NumberCondition::DoesNotEqual(n) => Predicate::not_exists(id, EntryTest::NumberEquals(*n)),
        NumberCondition::GreaterThan(n) => Predicate::exists(id, EntryTest::NumberGreater(*n)),
        NumberCondition::LessThan(n) => Predicate::exists(id, EntryTest::NumberLess(*n)),
        NumberCondition::GreaterThanOrEqualTo(n) => {
            Predicate::exists(id, EntryTest::NumberGreaterOrEqual(*n))
        }
        NumberCondition::LessThanOrEqualTo(n) => {
            Predicate::exists(id, EntryTest::NumberLessOrEqual(*n))
        }
        NumberCondition::IsEmpty => Predicate::not_exists(id, EntryTest::Any),
        NumberCondition::IsNotEmpty => Predicate::exists(id, EntryTest::Any),
    }
}

fn contains_predicate<T>(
    id: &str,
    condition: &ContainsCondition<T>,
    key: impl Fn(&T) -> String,
) -> Predicate {
    match condition {
        ContainsCondition::Contains(value) => {
            Predicate::exists(id, EntryTest::TextEquals(key(value)))
        }
        ContainsCondition::DoesNotContain(value) => {
            Predicate::not_exists(id, EntryTest::TextEquals(key(value)))
        }
        ContainsCondition::IsEmpty => Predicate::not_exists(id, EntryTest::Any),
        ContainsCondition::IsNotEmpty => Predicate::exists(id, EntryTest::Any),
    }
}

fn date_predicate(id: &str, condition: &DateCondition, now: Millis) -> Result<Predicate> {
    let range = |text: &String| -> Result<(f64, f64)> {
        let instant = time::parse_instant(text).ok_or_else(|| {
            Error::new(
                "",
                format!("should be an ISO 8601 date or date-time, instead was `{text}`"),
            )
        })?;
        let (lo, hi) = instant.range();
        Ok((lo as f64, hi as f64))
    };
    let between = |lo: Millis, hi: Millis| {
        Predicate::exists(id, EntryTest::NumberInRange(lo as f64, hi as f64))
    };
    let today = time::day_start(now);
    Ok(match condition {
        DateCondition::Equals(text) => {
            let (lo, hi) = range(text)?;
            Predicate::exists(id, EntryTest::NumberInRange(lo, hi))
        }
        DateCondition::Before(text) => Predicate::exists(id, EntryTest::NumberLess(range(text)?.0)),
        DateCondition::After(text) => {
            Predicate::exists(id, EntryTest::NumberGreaterOrEqual(range(text)?.1))
        }
        DateCondition::OnOrBefore(text) => {
            Predicate::exists(id, EntryTest::NumberLess(range(text)?.1))
        }
        DateCondition::OnOrAfter(text) => {
            Predicate::exists(id, EntryTest::NumberGreaterOrEqual(range(text)?.0))
        }
        DateCondition::IsEmpty => Predicate::not_exists(id, EntryTest::Any),
        DateCondition::IsNotEmpty => Predicate::exists(id, EntryTest::Any),
        // Relative ranges are whole UTC days, from the start of the day a period ago up to
        // the end of today (past) or from the start of today (next).
        DateCondition::PastWeek => between(today - 7 * DAY_MS, today + DAY_MS),
        DateCondition::PastMonth => between(today - 30 * DAY_MS, today + DAY_MS),
        DateCondition::PastYear => between(today - 365 * DAY_MS, today + DAY_MS),
        DateCondition::ThisWeek => {
            let start = time::week_start(now);
            between(start, start + 7 * DAY_MS)
        }
        DateCondition::NextWeek => between(today, today + 8 * DAY_MS),
        DateCondition::NextMonth => between(today, today + 31 * DAY_MS),
        DateCondition::NextYear => between(today, today + 366 * DAY_MS),
    })
}

impl Filter {
    /// Leaf conditions in the filter, counted through every `and` and `or`.
    pub fn condition_count(&self) -> usize {
        match self {
            Filter::And(parts) | Filter::Or(parts) => {
                parts.iter().map(Filter::condition_count).sum()
            }
            _ => 1,
        }
    }

    /// Refuses a filter with more than [`crate::limits::FILTER_CONDITIONS_MAX`] leaf conditions:
    /// each becomes a probe of the row index, and the store's statement has a size limit.
    pub fn check_size(&self, field: &str) -> Result<()> {
        let count = self.condition_count();
        let max = crate::limits::FILTER_CONDITIONS_MAX;
        if count > max {
            return Err(Error::new(
                field,
                format!("should have at most {max} conditions in all, instead has {count}"),
            ));
        }
        Ok(())
    }
}

/// Resolves a query's sorts against the schema. A later sort on a key already sorted by can
/// never change the order, so it is dropped; more than
/// [`crate::limits::SORTS_PER_QUERY_MAX`] sorts are refused, since each distinct key is a join.
pub fn resolve_sorts(
    sorts: &[Sort],
    data_source: &DataSource,
    field: &str,
) -> Result<Vec<ResolvedSort>> {
    let max = crate::limits::SORTS_PER_QUERY_MAX;
    if sorts.len() > max {
        return Err(Error::new(
            field,
            format!(
                "should have at most {max} items, instead has {}",
                sorts.len()
            ),
        ));
    }
    let mut resolved: Vec<ResolvedSort> = Vec::with_capacity(sorts.len());
    for (index, sort) in sorts.iter().enumerate() {
        let sort = sort.resolve(data_source, &format!("{field}[{index}]"))?;
        if !resolved
            .iter()
            .any(|seen| seen.property_id == sort.property_id)
        {
            resolved.push(sort);
        }
    }
    Ok(resolved)
}

impl Sort {
    pub fn resolve(&self, data_source: &DataSource, field: &str) -> Result<ResolvedSort> {
        match self {
            Sort::Timestamp { kind, direction } => Ok(ResolvedSort {
                property_id: match kind {
                    TimestampKind::CreatedTime => CREATED_TIME_KEY,
                    TimestampKind::LastEditedTime => LAST_EDITED_TIME_KEY,
                }
                .to_string(),
                key: SortKeyKind::Number,
                descending: *direction == SortDirection::Descending,
            }),
            Sort::Property {
                property,
                direction,
            } => {
                let schema = data_source.property(property).ok_or_else(|| {
                    Error::new(
                        format!("{field}.property"),
                        format!("Could not find sort property with name or id: {property}"),
                    )
                })?;
                let (property_id, key) = match &schema.config {
                    PropertyConfig::Number { .. }
                    | PropertyConfig::Date
                    | PropertyConfig::Checkbox => (schema.id.as_str(), SortKeyKind::Number),
                    PropertyConfig::CreatedTime => (CREATED_TIME_KEY, SortKeyKind::Number),
                    PropertyConfig::LastEditedTime => (LAST_EDITED_TIME_KEY, SortKeyKind::Number),
                    PropertyConfig::CreatedBy => (CREATED_BY_KEY, SortKeyKind::Folded),
                    PropertyConfig::LastEditedBy => (LAST_EDITED_BY_KEY, SortKeyKind::Folded),
                    _ => (schema.id.as_str(), SortKeyKind::Folded),
                };
                Ok(ResolvedSort {
                    property_id: property_id.to_string(),
                    key,
                    descending: *direction == SortDirection::Descending,
                })
            }
        }
    }
}

/// The sort key of one row for one sort: the value of its entry with ordinal 0.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortValue {
    Number(f64),
    Text(String),
}

pub fn sort_value(entries: &[IndexEntry], sort: &ResolvedSort) -> Option<SortValue> {
    let entry = entries
        .iter()
        .find(|e| e.property_id == sort.property_id && e.ordinal == 0)?;
    match sort.key {
        SortKeyKind::Number => entry.number.map(SortValue::Number),
        SortKeyKind::Folded => entry.folded.clone().map(SortValue::Text),
    }
}

/// Orders rows as the store must: by each sort in turn with empty values last in either
/// direction, then by creation time and id so that pagination is stable.
pub fn compare_rows(
    left: (&[IndexEntry], Millis, Id),
    right: (&[IndexEntry], Millis, Id),
    sorts: &[ResolvedSort],
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for sort in sorts {
        let a = sort_value(left.0, sort);
        let b = sort_value(right.0, sort);
        let ordering = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => {
                let ordering = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if sort.descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    left.1.cmp(&right.1).then(left.2.cmp(&right.2))
}
