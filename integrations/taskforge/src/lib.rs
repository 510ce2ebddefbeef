//! TaskForge: scans a Tasks data source for overdue deadlines, writes a status report page with
//! one section per owner, and suggests reassignments by current workload.
//!
//! - `invoke` with `{"report_parent_id", "data_source_id"?, "today"?}`: writes a report under
//!   the page `report_parent_id`, returns a summary as JSON, and keeps both ids for the schedule.
//! - `schedule`: writes the same report with the kept ids, dated by the tick.
//! - anything else: nothing.
//!
//! This file is the shell that talks to the host; what the report says is decided by pure
//! functions in the other modules, which the unit tests cover.

mod date;
mod input;
mod render;
mod report;
mod tasks;

use trellis_sdk::workspace::{self, Content, DataSourceQuery, ObjectKind, Parent, SearchQuery};
use trellis_sdk::{Error, Event, Output, ScheduleEvent, kv, log};

use crate::date::Date;
use crate::input::{CONFIG_KEY, Config};
use crate::tasks::Task;

/// The title of the data source found when the input names none.
const TASKS_TITLE: &str = "Tasks";
/// Results per host call for search and queries (the host's maximum).
const PAGE_SIZE: u32 = 100;
/// Pages of search results read while looking for the Tasks data source.
const SEARCH_PAGES_MAX: usize = 10;
/// Pages of rows read from the data source: 5,000 rows. Past this the run fails rather than
/// report on part of the tasks.
const QUERY_PAGES_MAX: usize = 50;

fn handle(event: Event) -> Result<Output, String> {
    match event {
        Event::Invoke(invoke) => invoked(&invoke.input),
        Event::Schedule(schedule) => scheduled(&schedule),
        Event::Change(_) | Event::Webhook(_) => Ok(Output::None),
    }
}

trellis_sdk::export!(handle);

fn invoked(input: &str) -> Result<Output, String> {
    let input =
        serde_json::from_str(input).map_err(|error| format!("input is not JSON: {error}"))?;
    let request = input::parse_invoke(&input)?;
    let today = request.today.unwrap_or_else(today_utc);
    let data_source_id = match request.data_source_id {
        Some(id) => id,
        None => find_tasks_data_source()?,
    };
    let config = Config {
        data_source_id,
        report_parent_id: request.report_parent_id,
    };
    let output = write_report(&config, today)?;
    // Staged like the report: kept only if the run succeeds.
    kv::set(CONFIG_KEY, &config.to_bytes())
        .map_err(|error| failed("saving the configuration", error))?;
    Ok(Output::json(&output))
}

/// A scheduled run reports on the day of its tick (UTC), so that a tick run late, after
/// downtime, still reports on its own day.
fn scheduled(schedule: &ScheduleEvent) -> Result<Output, String> {
    let saved =
        kv::get(CONFIG_KEY).map_err(|error| failed("reading the saved configuration", error))?;
    let Some(bytes) = saved else {
        log::warn(
            "no saved configuration; invoke TaskForge once with report_parent_id to set where reports go",
            &[("schedule", &schedule.name)],
        );
        return Ok(Output::None);
    };
    let config = Config::from_bytes(&bytes)?;
    let fire_at_ms = i64::try_from(schedule.fire_at_ms).unwrap_or(i64::MAX);
    let output = write_report(&config, Date::from_unix_ms(fire_at_ms))?;
    Ok(Output::json(&output))
}

fn today_utc() -> Date {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Date::from_unix_ms(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// The one data source titled exactly "Tasks" that this run can read.
fn find_tasks_data_source() -> Result<String, String> {
    let mut matches = Vec::new();
    let mut cursor = None;
    for _ in 0..SEARCH_PAGES_MAX {
        let results = workspace::search(&SearchQuery {
            text: TASKS_TITLE.to_string(),
            kind: Some(ObjectKind::DataSource),
            cursor,
            page_size: PAGE_SIZE,
        })
        .map_err(|error| failed("searching for the Tasks data source", error))?;
        matches.extend(
            results
                .hits
                .into_iter()
                .filter(|hit| hit.kind == ObjectKind::DataSource && hit.title == TASKS_TITLE)
                .map(|hit| hit.id),
        );
        cursor = results.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if cursor.is_some() {
        return Err(format!(
            "more than {} data sources match \"{TASKS_TITLE}\"; pass input.data_source_id",
            SEARCH_PAGES_MAX * PAGE_SIZE as usize
        ));
    }
    match matches.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(format!(
            "no data source titled \"{TASKS_TITLE}\" is shared with TaskForge; share the Tasks \
             database's page with it, or pass input.data_source_id"
        )),
        ids => Err(format!(
            "{} data sources are titled \"{TASKS_TITLE}\" ({}); pass input.data_source_id to pick one",
            ids.len(),
            ids.join(", ")
        )),
    }
}

/// Reads the tasks, stages the report page, logs counts, and returns the run's JSON output.
fn write_report(config: &Config, today: Date) -> Result<serde_json::Value, String> {
    // Fail here, with a message naming the input, rather than when the host applies the write.
    workspace::get_page(&config.report_parent_id, false).map_err(|error| match error {
        Error::NotFound(_) => format!(
            "report_parent_id: no page {} is shared with TaskForge",
            config.report_parent_id
        ),
        error => failed("reading the report parent page", error),
    })?;
    let tasks = read_tasks(&config.data_source_id)?;
    let report = report::analyze(&tasks, today);

    let blocks = render::report_blocks(&report);
    let mut chunks = blocks.chunks(render::BLOCKS_PER_CALL_MAX);
    let first = chunks
        .next()
        .map(|chunk| chunk.to_vec())
        .unwrap_or_default();
    let page_id = workspace::create_page(
        &Parent::Page(config.report_parent_id.clone()),
        &render::page_properties(today).to_string(),
        Some(&Content::Blocks(blocks_json(&first))),
    )
    .map_err(|error| failed("creating the report page", error))?;
    for chunk in chunks {
        workspace::append_blocks(&page_id, &Content::Blocks(blocks_json(chunk)))
            .map_err(|error| failed("appending to the report page", error))?;
    }

    log::info(
        "report created",
        &[
            ("today", &today.to_string()),
            ("tasks", &tasks.len().to_string()),
            ("overdue", &report.overdue_tasks.to_string()),
            (
                "owners_with_overdue",
                &report.owners_with_overdue().to_string(),
            ),
            ("suggestions", &report.suggestions.len().to_string()),
            ("blocks", &blocks.len().to_string()),
        ],
    );
    Ok(render::output(&report, &page_id, &config.data_source_id))
}

/// Every row of the data source, a page of 100 at a time.
fn read_tasks(data_source_id: &str) -> Result<Vec<Task>, String> {
    let mut tasks = Vec::new();
    let mut cursor = None;
    for _ in 0..QUERY_PAGES_MAX {
        let results = workspace::query_data_source(&DataSourceQuery {
            data_source_id: data_source_id.to_string(),
            filter: None,
            sorts: None,
            cursor,
            page_size: PAGE_SIZE,
        })
        .map_err(|error| match error {
            Error::NotFound(_) => {
                format!("data_source_id: no data source {data_source_id} is shared with TaskForge")
            }
            error => failed("querying the Tasks data source", error),
        })?;
        for page in results.pages.iter().filter(|page| !page.in_trash) {
            tasks.push(tasks::task_from_row(&page.id, &page.properties)?);
        }
        cursor = results.next_cursor;
        if cursor.is_none() {
            return Ok(tasks);
        }
    }
    Err(format!(
        "the data source has more than {} rows; TaskForge reads at most that many",
        QUERY_PAGES_MAX * PAGE_SIZE as usize
    ))
}

fn blocks_json(blocks: &[serde_json::Value]) -> String {
    serde_json::Value::Array(blocks.to_vec()).to_string()
}

fn failed(what: &str, error: Error) -> String {
    format!("{what}: {}", String::from(error))
}
