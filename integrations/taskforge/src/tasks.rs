//! Rows of the Tasks data source, read from Notion's page-properties JSON into [`Task`]s.
//!
//! This module and `blocks` are the only ones that know JSON shapes; the analysis in `report`
//! works on plain values.

use serde_json::Value;

use crate::date::Date;

/// The properties TaskForge reads, by name, as the demo workspace's Tasks data source has them.
pub const OWNER_PROPERTY: &str = "Owner";
pub const STATUS_PROPERTY: &str = "Status";
pub const PRIORITY_PROPERTY: &str = "Priority";
pub const DUE_PROPERTY: &str = "Due";
pub const ESTIMATE_PROPERTY: &str = "Estimate (h)";
/// The status that closes a task; every other status, or none, leaves it open.
pub const DONE_STATUS: &str = "Done";

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub title: String,
    /// User ids, in the order the property lists them, without repeats.
    pub owners: Vec<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub due: Option<Date>,
    /// Hours; a missing, negative or non-finite estimate counts as zero.
    pub estimate_hours: f64,
}

impl Task {
    pub fn is_open(&self) -> bool {
        self.status.as_deref() != Some(DONE_STATUS)
    }

    /// Open, and due before `today`. A task due today is not overdue yet.
    pub fn is_overdue(&self, today: Date) -> bool {
        self.is_open() && self.due.is_some_and(|due| due < today)
    }
}

/// Reads one row. `properties` is the row's properties JSON text. Fails when a property the
/// report needs is missing or has another type, naming it, since then the data source is not
/// a Tasks data source this integration understands.
pub fn task_from_row(id: &str, properties: &str) -> Result<Task, String> {
    let properties: Value = serde_json::from_str(properties)
        .map_err(|error| format!("row {id}: properties are not JSON: {error}"))?;
    let properties = properties
        .as_object()
        .ok_or_else(|| format!("row {id}: properties are not a JSON object"))?;
    let title = properties
        .values()
        .find(|property| property["type"] == "title")
        .map(|property| plain_text(&property["title"]))
        .ok_or_else(|| format!("row {id}: no title property"))?;
    let typed = |name: &str, types: &[&str]| -> Result<Option<&Value>, String> {
        let Some(property) = properties.get(name) else {
            return Ok(None);
        };
        let kind = property["type"].as_str().unwrap_or("");
        if !types.contains(&kind) {
            return Err(format!(
                "the data source's `{name}` property should be of type {}, not {kind}",
                types.join(" or ")
            ));
        }
        Ok(Some(&property[kind]))
    };
    let required = |name: &str, types: &[&str]| -> Result<&Value, String> {
        typed(name, types)?.ok_or_else(|| {
            format!(
                "the data source has no `{name}` property (of type {})",
                types.join(" or ")
            )
        })
    };

    let owners = required(OWNER_PROPERTY, &["people"])?;
    let mut owner_ids: Vec<String> = Vec::new();
    for owner in owners.as_array().into_iter().flatten() {
        if let Some(owner_id) = owner["id"].as_str()
            && !owner_ids.iter().any(|known| known == owner_id)
        {
            owner_ids.push(owner_id.to_string());
        }
    }
    let status = option_name(required(STATUS_PROPERTY, &["status", "select"])?);
    let due =
        match &required(DUE_PROPERTY, &["date"])?["start"] {
            Value::Null => None,
            Value::String(start) => Some(Date::parse_start(start).ok_or_else(|| {
                format!("row {id}: `{DUE_PROPERTY}` start {start:?} is not a date")
            })?),
            other => return Err(format!("row {id}: `{DUE_PROPERTY}` start is {other}")),
        };
    let priority = typed(PRIORITY_PROPERTY, &["select", "status"])?.and_then(option_name);
    let estimate_hours = typed(ESTIMATE_PROPERTY, &["number"])?
        .and_then(Value::as_f64)
        .filter(|hours| hours.is_finite() && *hours > 0.0)
        .unwrap_or(0.0);
    Ok(Task {
        id: id.to_string(),
        title,
        owners: owner_ids,
        status,
        priority,
        due,
        estimate_hours,
    })
}

/// The concatenated `plain_text` of a rich text array.
fn plain_text(runs: &Value) -> String {
    runs.as_array()
        .into_iter()
        .flatten()
        .filter_map(|run| run["plain_text"].as_str())
        .collect()
}

/// The chosen option's name of a select or status value (`null` when none is chosen).
fn option_name(value: &Value) -> Option<String> {
    value["name"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A row's properties as the server renders a Tasks row.
    fn row(
        title: &str,
        owners: &[&str],
        status: &str,
        due: Option<&str>,
        estimate: Option<f64>,
    ) -> String {
        json!({
            "Name": {"id": "title", "type": "title", "title": [
                {"type": "text", "text": {"content": title, "link": null},
                 "annotations": {"bold": false}, "plain_text": title, "href": null}
            ]},
            "Project": {"id": "a1", "type": "relation", "relation": [{"id": "0198c0de-0000-7000-8000-000000000001"}], "has_more": false},
            "Owner": {"id": "a2", "type": "people", "people": owners.iter().map(|id| json!({"object": "user", "id": id})).collect::<Vec<_>>()},
            "Status": {"id": "a3", "type": "status", "status": {"id": "s1", "name": status, "color": "blue"}},
            "Priority": {"id": "a4", "type": "select", "select": {"id": "p1", "name": "High", "color": "red"}},
            "Due": {"id": "a5", "type": "date", "date": due.map(|start| json!({"start": start, "end": null, "time_zone": null}))},
            "Estimate (h)": {"id": "a6", "type": "number", "number": estimate},
            "Tags": {"id": "a7", "type": "multi_select", "multi_select": []}
        })
        .to_string()
    }

    #[test]
    fn a_rendered_row_reads_into_a_task() {
        let properties = row(
            "Finalize color tokens",
            &["u-1", "u-2", "u-1"],
            "In progress",
            Some("2026-11-24"),
            Some(8.5),
        );
        let task = task_from_row("t-1", &properties).unwrap();
        assert_eq!(
            task,
            Task {
                id: "t-1".into(),
                title: "Finalize color tokens".into(),
                owners: vec!["u-1".into(), "u-2".into()],
                status: Some("In progress".into()),
                priority: Some("High".into()),
                due: Date::parse("2026-11-24"),
                estimate_hours: 8.5,
            }
        );
    }

    #[test]
    fn empty_values_read_as_absent() {
        let mut properties: Value =
            serde_json::from_str(&row("", &[], "Done", None, None)).unwrap();
        properties["Status"]["status"] = Value::Null;
        properties["Priority"]["select"] = Value::Null;
        let task = task_from_row("t-1", &properties.to_string()).unwrap();
        assert!(task.owners.is_empty());
        assert_eq!(task.status, None);
        assert_eq!(task.priority, None);
        assert_eq!(task.due, None);
        assert_eq!(task.estimate_hours, 0.0);
        assert!(task.is_open(), "a task without a status is open");
    }

    #[test]
    fn negative_estimates_count_as_zero() {
        let task = task_from_row("t", &row("x", &["u"], "Done", None, Some(-3.0))).unwrap();
        assert_eq!(task.estimate_hours, 0.0);
    }

    #[test]
    fn a_missing_or_mistyped_property_is_named() {
        let mut properties: Value =
            serde_json::from_str(&row("x", &[], "Done", None, None)).unwrap();
        properties.as_object_mut().unwrap().remove("Due");
        let error = task_from_row("t", &properties.to_string()).unwrap_err();
        assert!(error.contains("no `Due` property"), "{error}");

        let mut properties: Value =
            serde_json::from_str(&row("x", &[], "Done", None, None)).unwrap();
        properties["Owner"] = json!({"id": "a2", "type": "rich_text", "rich_text": []});
        let error = task_from_row("t", &properties.to_string()).unwrap_err();
        assert!(
            error.contains("`Owner` property should be of type people, not rich_text"),
            "{error}"
        );
    }

    #[test]
    fn overdue_means_open_and_due_before_today() {
        let today = Date::parse("2026-11-28").unwrap();
        let task = |status: &str, due: &str| {
            task_from_row("t", &row("x", &["u"], status, Some(due), Some(1.0))).unwrap()
        };
        assert!(task("In progress", "2026-11-27").is_overdue(today));
        assert!(task("Not started", "2025-01-01").is_overdue(today));
        assert!(
            !task("In progress", "2026-11-28").is_overdue(today),
            "due today"
        );
        assert!(!task("In progress", "2026-11-29").is_overdue(today));
        assert!(!task("Done", "2026-11-01").is_overdue(today), "done");
        let undated = task_from_row("t", &row("x", &["u"], "In progress", None, None)).unwrap();
        assert!(!undated.is_overdue(today));
    }
}
