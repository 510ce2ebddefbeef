//! What TaskForge writes, in Notion's JSON shapes: the report page's title property and blocks,
//! and the run's JSON output.
//!
//! Only block types and rich text the server's parser accepts are used (`paragraph`,
//! `heading_2`, `bulleted_list_item`; `text`, and `mention` of a `user` or a `page`). A user
//! mention shows as the person's name, a page mention as the task's title, so the report names
//! people and tasks without TaskForge reading either.

use serde_json::{Value, json};

use crate::date::Date;
use crate::report::{OverdueTask, Owner, Report, Section, Suggestion};

/// Blocks one `create-page` or `append-blocks` call carries at most (the server's, and
/// Notion's, limit on a `children` array).
pub const BLOCKS_PER_CALL_MAX: usize = 100;

pub fn report_title(today: Date) -> String {
    format!("Overdue tasks — {today}")
}

/// `properties` of the report page, a page under a page: only its title.
pub fn page_properties(today: Date) -> Value {
    json!({"title": {"title": [text(&report_title(today))]}})
}

/// The report page's content: a summary, a section per owner with overdue tasks, and the
/// suggested reassignments.
pub fn report_blocks(report: &Report) -> Vec<Value> {
    let mut blocks = vec![block("paragraph", vec![text(&summary(report))])];
    for section in &report.sections {
        blocks.push(block("heading_2", section_heading(section)));
        blocks.extend(
            section
                .tasks
                .iter()
                .map(|overdue| block("bulleted_list_item", task_line(overdue))),
        );
    }
    blocks.push(block("heading_2", vec![text("Suggested reassignments")]));
    if report.suggestions.is_empty() {
        blocks.push(block("paragraph", vec![text("No reassignments needed.")]));
    } else {
        blocks.push(block(
            "paragraph",
            vec![text(&format!(
                "The team's mean is {} of open estimates per owner. Overdue tasks of owners \
                 above it go to the owner with the fewest open hours at that point, counting \
                 the moves listed before.",
                hours(report.mean_open_hours)
            ))],
        ));
        blocks.extend(
            report
                .suggestions
                .iter()
                .map(|suggestion| block("bulleted_list_item", suggestion_line(suggestion))),
        );
    }
    blocks
}

/// The run's output: what the caller of an `invoke` gets back.
pub fn output(report: &Report, report_page_id: &str, data_source_id: &str) -> Value {
    json!({
        "report_page_id": report_page_id,
        "data_source_id": data_source_id,
        "today": report.today.to_string(),
        "overdue": report.overdue_tasks,
        "owners": report.owners.iter().map(|owner| json!({
            "user_id": owner.owner.user_id(),
            "overdue": owner.overdue,
            "open_hours": hours_value(owner.open_hours),
        })).collect::<Vec<_>>(),
        "suggestions": report.suggestions.iter().map(|suggestion| json!({
            "task_id": suggestion.task_id,
            "title": suggestion.title,
            "from": suggestion.from,
            "to": suggestion.to,
            "hours": hours_value(suggestion.hours),
        })).collect::<Vec<_>>(),
    })
}

fn summary(report: &Report) -> String {
    let today = report.today;
    let tasks = plural(report.overdue_tasks, "overdue task", "overdue tasks");
    let owners = report.owners_with_overdue();
    match (owners, report.has_unassigned_overdue()) {
        (0, false) => format!("No overdue tasks as of {today}."),
        (0, true) => format!("{tasks}, none of them assigned, as of {today}."),
        (owners, unassigned) => format!(
            "{tasks} across {}{}, as of {today}.",
            plural(owners, "owner", "owners"),
            if unassigned {
                " and unassigned work"
            } else {
                ""
            }
        ),
    }
}

fn section_heading(section: &Section) -> Vec<Value> {
    let counts = format!(
        " — {} overdue, {} open",
        section.tasks.len(),
        hours(section.open_hours)
    );
    match &section.owner {
        Owner::User(id) => vec![user_mention(id), text(&counts)],
        Owner::Unassigned => vec![text(&format!("Unassigned{counts}"))],
    }
}

fn task_line(overdue: &OverdueTask) -> Vec<Value> {
    let task = &overdue.task;
    let mut details = match task.due {
        Some(due) => format!(
            " — due {due} ({})",
            plural(overdue.days_overdue as usize, "day overdue", "days overdue")
        ),
        None => String::new(),
    };
    for value in [&task.priority, &task.status].into_iter().flatten() {
        details.push_str(", ");
        details.push_str(value);
    }
    vec![page_mention(&task.id), text(&details)]
}

fn suggestion_line(suggestion: &Suggestion) -> Vec<Value> {
    vec![
        page_mention(&suggestion.task_id),
        text(&format!(" ({}) — from ", hours(suggestion.hours))),
        user_mention(&suggestion.from),
        text(" to "),
        user_mention(&suggestion.to),
        text(&format!(
            "; then {} and {} open",
            hours(suggestion.from_hours_after),
            hours(suggestion.to_hours_after)
        )),
    ]
}

fn block(kind: &str, rich_text: Vec<Value>) -> Value {
    json!({"object": "block", "type": kind, kind: {"rich_text": rich_text}})
}

fn text(content: &str) -> Value {
    json!({"type": "text", "text": {"content": content}})
}

fn user_mention(user_id: &str) -> Value {
    json!({"type": "mention", "mention": {"type": "user", "user": {"id": user_id}}})
}

fn page_mention(page_id: &str) -> Value {
    json!({"type": "mention", "mention": {"type": "page", "page": {"id": page_id}}})
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Hours rounded to two decimals: `44 h`, `7.5 h`.
fn hours(value: f64) -> String {
    format!("{} h", hours_value(value))
}

/// Hours rounded to two decimals, integral values without a fraction, as the server renders
/// numbers.
fn hours_value(value: f64) -> Value {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        json!(rounded as i64)
    } else {
        json!(rounded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analyze;
    use crate::report::tests::{ANA, BEN, CY, task, three_owners, today};

    /// The plain text of a block, with mentions as `@<id>` and `page:<id>`.
    fn plain(block: &Value) -> String {
        let kind = block["type"].as_str().unwrap();
        block[kind]["rich_text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| match run["type"].as_str().unwrap() {
                "text" => run["text"]["content"].as_str().unwrap().to_string(),
                _ => match run["mention"]["type"].as_str().unwrap() {
                    "user" => format!("@{}", run["mention"]["user"]["id"].as_str().unwrap()),
                    _ => format!("page:{}", run["mention"]["page"]["id"].as_str().unwrap()),
                },
            })
            .collect()
    }

    #[test]
    fn the_three_owner_report_reads_as_expected() {
        let blocks = report_blocks(&analyze(&three_owners(), today()));
        let lines: Vec<(String, String)> = blocks
            .iter()
            .map(|block| (block["type"].as_str().unwrap().to_string(), plain(block)))
            .collect();
        let expected: Vec<(&str, String)> = vec![
            (
                "paragraph",
                "5 overdue tasks across 2 owners and unassigned work, as of 2026-11-28.".into(),
            ),
            ("heading_2", format!("@{ANA} — 3 overdue, 44 h open")),
            (
                "bulleted_list_item",
                "page:t1 — due 2026-11-20 (8 days overdue), High, In progress".into(),
            ),
            (
                "bulleted_list_item",
                "page:t2 — due 2026-11-25 (3 days overdue), High, Not started".into(),
            ),
            (
                "bulleted_list_item",
                "page:t3 — due 2026-11-27 (1 day overdue), High, In progress".into(),
            ),
            ("heading_2", format!("@{BEN} — 1 overdue, 10 h open")),
            (
                "bulleted_list_item",
                "page:t5 — due 2026-11-26 (2 days overdue), High, In progress".into(),
            ),
            ("heading_2", "Unassigned — 1 overdue, 3 h open".into()),
            (
                "bulleted_list_item",
                "page:t9 — due 2026-11-10 (18 days overdue), High, Not started".into(),
            ),
            ("heading_2", "Suggested reassignments".into()),
            (
                "paragraph",
                "The team's mean is 18.67 h of open estimates per owner. Overdue tasks of owners \
                 above it go to the owner with the fewest open hours at that point, counting \
                 the moves listed before."
                    .into(),
            ),
            (
                "bulleted_list_item",
                format!("page:t1 (10 h) — from @{ANA} to @{CY}; then 34 h and 12 h open"),
            ),
            (
                "bulleted_list_item",
                format!("page:t2 (8 h) — from @{ANA} to @{BEN}; then 26 h and 18 h open"),
            ),
            (
                "bulleted_list_item",
                format!("page:t3 (6 h) — from @{ANA} to @{CY}; then 20 h and 18 h open"),
            ),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(kind, text)| (kind.to_string(), text))
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn blocks_use_the_shapes_the_server_parses() {
        let blocks = report_blocks(&analyze(&three_owners(), today()));
        assert_eq!(
            blocks[1],
            json!({"object": "block", "type": "heading_2", "heading_2": {"rich_text": [
                {"type": "mention", "mention": {"type": "user", "user": {"id": ANA}}},
                {"type": "text", "text": {"content": " — 3 overdue, 44 h open"}}
            ]}})
        );
        assert_eq!(
            blocks[2]["bulleted_list_item"]["rich_text"][0],
            json!({"type": "mention", "mention": {"type": "page", "page": {"id": "t1"}}})
        );
        assert_eq!(
            page_properties(today()),
            json!({"title": {"title": [
                {"type": "text", "text": {"content": "Overdue tasks — 2026-11-28"}}
            ]}})
        );
    }

    #[test]
    fn a_report_without_overdue_tasks_says_so() {
        let tasks = vec![task("t1", &[ANA], "In progress", Some("2026-11-28"), 4.0)];
        let blocks = report_blocks(&analyze(&tasks, today()));
        let lines: Vec<String> = blocks.iter().map(plain).collect();
        assert_eq!(
            lines,
            vec![
                "No overdue tasks as of 2026-11-28.",
                "Suggested reassignments",
                "No reassignments needed.",
            ]
        );
    }

    #[test]
    fn only_unassigned_overdue_work_is_described_as_such() {
        let tasks = vec![task("t1", &[], "Not started", Some("2026-11-27"), 4.0)];
        let blocks = report_blocks(&analyze(&tasks, today()));
        assert_eq!(
            plain(&blocks[0]),
            "1 overdue task, none of them assigned, as of 2026-11-28."
        );
    }

    #[test]
    fn output_carries_counts_owners_and_suggestions() {
        let report = analyze(&three_owners(), today());
        let output = output(&report, "report-page", "data-source");
        assert_eq!(output["report_page_id"], "report-page");
        assert_eq!(output["data_source_id"], "data-source");
        assert_eq!(output["today"], "2026-11-28");
        assert_eq!(output["overdue"], 5);
        assert_eq!(
            output["owners"],
            json!([
                {"user_id": ANA, "overdue": 3, "open_hours": 44},
                {"user_id": BEN, "overdue": 1, "open_hours": 10},
                {"user_id": null, "overdue": 1, "open_hours": 3},
                {"user_id": CY, "overdue": 0, "open_hours": 2},
            ])
        );
        assert_eq!(
            output["suggestions"][1],
            json!({"task_id": "t2", "title": "Task t2", "from": ANA, "to": BEN, "hours": 8})
        );
        assert_eq!(output["suggestions"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn hours_are_rounded_and_integral_hours_have_no_fraction() {
        assert_eq!(hours_value(44.0), json!(44));
        assert_eq!(hours_value(0.1 + 0.2), json!(0.3));
        assert_eq!(hours(56.0 / 3.0), "18.67 h");
    }
}
