//! The demo workspace loaded by `trellis serve --demo`: three users, a company wiki with
//! a restricted Finance tree and a page shared with a guest, and Projects, Tasks and
//! Meetings data sources. Loading is idempotent: a second run finds the wiki and stops.
//!
//! Content lives in `demo/` as Markdown pages with front matter (`key: value` lines, where
//! `share:` may repeat) and JSON files; dates are offsets from the day of loading, so
//! "overdue" stays true whenever the demo is loaded.

use std::collections::HashMap;
use std::fmt;

use access::{Actor, Grantee, Level, Role};
use document::block::{NewBlock, TextContent};
use document::data_source::SelectOption;
use document::property::{DateValue, OptionInput, PropertyInput};
use document::time::{DAY_MS, format_date};
use document::{BlockKind, Color, Icon, Id, PropertyConfig, PropertyValue, RichText};

use crate::clock::now_ms;
use crate::{
    Error, NewDatabase, NewPage, NewUser, ParentRef, Result, SearchFilter, SearchRequest,
    SearchResult, Workspace,
};

/// The demo users' password.
pub const PASSWORD: &str = "trellis-demo";

const PAGES: &[(&str, &str)] = &[
    (
        "01-company-wiki.md",
        include_str!("../demo/pages/01-company-wiki.md"),
    ),
    (
        "02-engineering-handbook.md",
        include_str!("../demo/pages/02-engineering-handbook.md"),
    ),
    (
        "03-on-call-runbook.md",
        include_str!("../demo/pages/03-on-call-runbook.md"),
    ),
    (
        "04-code-review-guidelines.md",
        include_str!("../demo/pages/04-code-review-guidelines.md"),
    ),
    (
        "05-architecture-overview.md",
        include_str!("../demo/pages/05-architecture-overview.md"),
    ),
    (
        "06-incident-postmortem-route-cache-outage.md",
        include_str!("../demo/pages/06-incident-postmortem-route-cache-outage.md"),
    ),
    (
        "07-local-development-setup.md",
        include_str!("../demo/pages/07-local-development-setup.md"),
    ),
    (
        "08-release-process.md",
        include_str!("../demo/pages/08-release-process.md"),
    ),
    ("09-product.md", include_str!("../demo/pages/09-product.md")),
    (
        "10-roadmap-2027.md",
        include_str!("../demo/pages/10-roadmap-2027.md"),
    ),
    (
        "11-pricing-philosophy.md",
        include_str!("../demo/pages/11-pricing-philosophy.md"),
    ),
    (
        "12-customer-personas.md",
        include_str!("../demo/pages/12-customer-personas.md"),
    ),
    (
        "13-people-and-culture.md",
        include_str!("../demo/pages/13-people-and-culture.md"),
    ),
    (
        "14-onboarding-checklist.md",
        include_str!("../demo/pages/14-onboarding-checklist.md"),
    ),
    (
        "15-remote-work-policy.md",
        include_str!("../demo/pages/15-remote-work-policy.md"),
    ),
    (
        "16-expense-policy.md",
        include_str!("../demo/pages/16-expense-policy.md"),
    ),
    (
        "17-holiday-calendar.md",
        include_str!("../demo/pages/17-holiday-calendar.md"),
    ),
    (
        "18-sales-playbook.md",
        include_str!("../demo/pages/18-sales-playbook.md"),
    ),
    (
        "19-security-policy.md",
        include_str!("../demo/pages/19-security-policy.md"),
    ),
    (
        "20-brand-guidelines.md",
        include_str!("../demo/pages/20-brand-guidelines.md"),
    ),
    (
        "21-glossary.md",
        include_str!("../demo/pages/21-glossary.md"),
    ),
    ("22-finance.md", include_str!("../demo/pages/22-finance.md")),
    (
        "23-pricing-model-2027.md",
        include_str!("../demo/pages/23-pricing-model-2027.md"),
    ),
    (
        "24-salary-bands.md",
        include_str!("../demo/pages/24-salary-bands.md"),
    ),
    (
        "25-design-collaboration-atlas-redesign.md",
        include_str!("../demo/pages/25-design-collaboration-atlas-redesign.md"),
    ),
    (
        "26-atlas-design-brief.md",
        include_str!("../demo/pages/26-atlas-design-brief.md"),
    ),
    ("27-reports.md", include_str!("../demo/pages/27-reports.md")),
];
const PROJECTS: &str = include_str!("../demo/projects.json");
const TASKS: &str = include_str!("../demo/tasks.json");
const MEETINGS: &str = include_str!("../demo/meetings.json");

/// What was loaded.
pub struct Summary {
    pub pages: usize,
    pub projects: usize,
    pub tasks: usize,
    pub meetings: usize,
    pub already_loaded: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already_loaded {
            write!(f, "already loaded")
        } else {
            write!(
                f,
                "{} wiki pages, {} projects, {} tasks, {} meetings",
                self.pages, self.projects, self.tasks, self.meetings
            )
        }
    }
}

struct FrontMatter {
    title: String,
    icon: Option<String>,
    parent: Option<String>,
    restricted: bool,
    shares: Vec<(String, Level)>,
}

fn front_matter(name: &str, text: &str) -> Result<(FrontMatter, String)> {
    let bad = |message: &str| Error::Internal(format!("demo page {name}: {message}"));
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| bad("no front matter"))?;
    let (head, body) = rest
        .split_once("\n---\n")
        .ok_or_else(|| bad("unterminated front matter"))?;
    let mut matter = FrontMatter {
        title: String::new(),
        icon: None,
        parent: None,
        restricted: false,
        shares: Vec::new(),
    };
    for line in head.lines() {
        let (key, value) = line
            .split_once(": ")
            .ok_or_else(|| bad("front matter line without `: `"))?;
        let value = value.trim().to_string();
        match key.trim() {
            "title" => matter.title = value,
            "icon" => matter.icon = Some(value),
            "parent" => matter.parent = Some(value),
            "restricted" => matter.restricted = value == "true",
            "share" => {
                let (email, level) = value
                    .rsplit_once(':')
                    .ok_or_else(|| bad("share without level"))?;
                let level = Level::from_name(level).ok_or_else(|| bad("unknown share level"))?;
                matter.shares.push((email.to_string(), level));
            }
            other => return Err(bad(&format!("unknown key `{other}`"))),
        }
    }
    Ok((matter, body.to_string()))
}

fn text(content: &str) -> Vec<RichText> {
    if content.is_empty() {
        Vec::new()
    } else {
        vec![RichText::plain(content)]
    }
}

fn paragraph(content: &str) -> NewBlock {
    NewBlock::new(BlockKind::Paragraph(TextContent {
        rich_text: text(content),
        color: Color::Default,
    }))
}

fn date_in(days: i64) -> String {
    format_date(now_ms() + days * DAY_MS)
}

fn title_input(title: &str) -> (String, PropertyInput) {
    (
        "Name".to_string(),
        PropertyInput::Value(PropertyValue::Title(text(title))),
    )
}

fn select(options: &[(&str, Color)]) -> Vec<SelectOption> {
    options
        .iter()
        .map(|(name, color)| SelectOption {
            id: document::data_source::new_short_id(),
            name: name.to_string(),
            color: *color,
        })
        .collect()
}

/// Loads the demo content unless it is already there.
pub async fn load(workspace: &Workspace) -> Result<Summary> {
    let mut users = HashMap::new();
    for (email, name, role) in [
        ("ada@example.com", "Ada Lovelace", Role::Owner),
        ("ben@example.com", "Ben Okafor", Role::Member),
        ("cy@example.com", "Cy Tanaka", Role::Guest),
    ] {
        let user = match workspace.find_user(email).await? {
            Some(user) => user,
            None => {
                workspace
                    .create_user(NewUser {
                        email: email.into(),
                        name: name.into(),
                        role,
                        password: Some(PASSWORD.into()),
                    })
                    .await?
            }
        };
        users.insert(email.to_string(), user.id);
    }
    let ada = workspace.actor_for_user(users["ada@example.com"]).await?;
    let existing = workspace
        .search(
            &ada,
            SearchRequest {
                query: "Company Wiki".into(),
                filter: Some(SearchFilter::Page),
                ..Default::default()
            },
        )
        .await?;
    if existing
        .results
        .iter()
        .any(|r| matches!(r, SearchResult::Page(view) if view.page.title() == "Company Wiki"))
    {
        return Ok(Summary {
            pages: 0,
            projects: 0,
            tasks: 0,
            meetings: 0,
            already_loaded: true,
        });
    }
    let pages = load_pages(workspace, &ada, &users).await?;
    let (projects, tasks, meetings) = load_databases(workspace, &ada, &users, &pages).await?;
    Ok(Summary {
        pages: pages.len(),
        projects,
        tasks,
        meetings,
        already_loaded: false,
    })
}

async fn load_pages(
    workspace: &Workspace,
    ada: &Actor,
    users: &HashMap<String, Id>,
) -> Result<HashMap<String, Id>> {
    let mut ids: HashMap<String, Id> = HashMap::new();
    for (name, content) in PAGES {
        let (matter, body) = front_matter(name, content)?;
        let parent = match &matter.parent {
            None => ParentRef::Workspace,
            Some(title) => ParentRef::Page(*ids.get(title).ok_or_else(|| {
                Error::Internal(format!("demo page {name}: unknown parent {title}"))
            })?),
        };
        let children = document::markdown::from_markdown(&body)?;
        let view = workspace
            .create_page(
                ada,
                NewPage {
                    id: None,
                    parent: Some(parent),
                    properties: vec![(
                        "title".into(),
                        PropertyInput::Value(PropertyValue::Title(text(&matter.title))),
                    )],
                    children,
                    icon: matter.icon.map(Icon::Emoji),
                    cover: None,
                },
            )
            .await?;
        let id = view.page.id;
        if matter.restricted {
            workspace.set_inherits(ada, id, false).await?;
        }
        for (email, level) in matter.shares {
            let user = *users.get(&email).ok_or_else(|| {
                Error::Internal(format!("demo page {name}: unknown user {email}"))
            })?;
            workspace
                .share(ada, id, Grantee::User(user), Some(level))
                .await?;
        }
        ids.insert(matter.title, id);
    }
    Ok(ids)
}

#[derive(serde::Deserialize)]
struct ProjectRecord {
    name: String,
    status: String,
    lead: String,
    summary: String,
    start_offset_days: i64,
    end_offset_days: i64,
}

#[derive(serde::Deserialize)]
struct TaskRecord {
    title: String,
    project: String,
    owner: String,
    status: String,
    priority: String,
    due_offset_days: i64,
    estimate_hours: f64,
    tags: Vec<String>,
    notes: String,
}

#[derive(serde::Deserialize)]
struct MeetingRecord {
    title: String,
    date_offset_days: i64,
    attendees: Vec<String>,
    project: Option<String>,
    transcript: String,
}

fn parse_json<T: for<'de> serde::Deserialize<'de>>(name: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("demo {name}: {e}")))
}

fn people(users: &HashMap<String, Id>, emails: &[String]) -> Result<PropertyInput> {
    let ids = emails
        .iter()
        .map(|email| {
            users
                .get(email)
                .copied()
                .ok_or_else(|| Error::Internal(format!("demo: unknown user {email}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PropertyInput::Value(PropertyValue::People(ids)))
}

fn date(days: i64) -> PropertyInput {
    PropertyInput::Value(PropertyValue::Date(Some(DateValue::on(date_in(days)))))
}

async fn database(
    workspace: &Workspace,
    ada: &Actor,
    parent: Id,
    title: &str,
    icon: &str,
    properties: Vec<(String, PropertyConfig)>,
) -> Result<Id> {
    let view = workspace
        .create_database(
            ada,
            NewDatabase {
                parent: Some(ParentRef::Page(parent)),
                title: text(title),
                icon: Some(Icon::Emoji(icon.to_string())),
                properties,
                ..Default::default()
            },
        )
        .await?;
    view.data_sources
        .first()
        .map(|(id, _)| *id)
        .ok_or_else(|| Error::Internal("demo database without data source".into()))
}

/// Transcripts become one paragraph per speaker turn, split to respect the run limit.
fn transcript_blocks(transcript: &str) -> Vec<NewBlock> {
    let limit = document::limits::RICH_TEXT_CONTENT_CHARS_MAX;
    let mut blocks = Vec::new();
    for line in transcript.lines().filter(|l| !l.trim().is_empty()) {
        let chars: Vec<char> = line.chars().collect();
        for chunk in chars.chunks(limit) {
            blocks.push(paragraph(&chunk.iter().collect::<String>()));
        }
    }
    blocks
}

async fn load_databases(
    workspace: &Workspace,
    ada: &Actor,
    users: &HashMap<String, Id>,
    pages: &HashMap<String, Id>,
) -> Result<(usize, usize, usize)> {
    let wiki = *pages
        .get("Company Wiki")
        .ok_or_else(|| Error::Internal("demo: no Company Wiki page".into()))?;
    let projects: Vec<ProjectRecord> = parse_json("projects.json", PROJECTS)?;
    let tasks: Vec<TaskRecord> = parse_json("tasks.json", TASKS)?;
    let meetings: Vec<MeetingRecord> = parse_json("meetings.json", MEETINGS)?;

    let projects_source = database(
        workspace,
        ada,
        wiki,
        "Projects",
        "🗂️",
        vec![
            ("Name".into(), PropertyConfig::Title),
            (
                "Status".into(),
                PropertyConfig::Select {
                    options: select(&[
                        ("Planning", Color::Gray),
                        ("Active", Color::Green),
                        ("Paused", Color::Yellow),
                        ("Done", Color::Blue),
                    ]),
                },
            ),
            ("Lead".into(), PropertyConfig::People),
            ("Summary".into(), PropertyConfig::RichText),
            ("Start".into(), PropertyConfig::Date),
            ("End".into(), PropertyConfig::Date),
        ],
    )
    .await?;
    let mut project_ids = HashMap::new();
    for project in &projects {
        let view = workspace
            .create_page(
                ada,
                NewPage {
                    parent: Some(ParentRef::DataSource(projects_source)),
                    properties: vec![
                        title_input(&project.name),
                        (
                            "Status".into(),
                            PropertyInput::Select(Some(OptionInput::Name(project.status.clone()))),
                        ),
                        (
                            "Lead".into(),
                            people(users, std::slice::from_ref(&project.lead))?,
                        ),
                        (
                            "Summary".into(),
                            PropertyInput::Value(PropertyValue::RichText(text(&project.summary))),
                        ),
                        ("Start".into(), date(project.start_offset_days)),
                        ("End".into(), date(project.end_offset_days)),
                    ],
                    children: vec![paragraph(&project.summary)],
                    ..Default::default()
                },
            )
            .await?;
        project_ids.insert(project.name.clone(), view.page.id);
    }
    // The guest contractor works on Atlas: share that project's page with them.
    if let (Some(atlas), Some(cy)) = (
        project_ids.get("Atlas Redesign"),
        users.get("cy@example.com"),
    ) {
        workspace
            .share(ada, *atlas, Grantee::User(*cy), Some(Level::CanEdit))
            .await?;
    }

    let tasks_source = database(
        workspace,
        ada,
        wiki,
        "Tasks",
        "✅",
        vec![
            ("Name".into(), PropertyConfig::Title),
            (
                "Project".into(),
                PropertyConfig::Relation {
                    data_source_id: projects_source,
                    database_id: projects_source,
                },
            ),
            ("Owner".into(), PropertyConfig::People),
            ("Status".into(), PropertyConfig::default_status()),
            (
                "Priority".into(),
                PropertyConfig::Select {
                    options: select(&[
                        ("High", Color::Red),
                        ("Medium", Color::Yellow),
                        ("Low", Color::Gray),
                    ]),
                },
            ),
            ("Due".into(), PropertyConfig::Date),
            (
                "Estimate (h)".into(),
                PropertyConfig::Number {
                    format: "number".into(),
                },
            ),
            (
                "Tags".into(),
                PropertyConfig::MultiSelect {
                    options: Vec::new(),
                },
            ),
        ],
    )
    .await?;
    for task in &tasks {
        let project = project_ids
            .get(&task.project)
            .ok_or_else(|| Error::Internal(format!("demo task {}: unknown project", task.title)))?;
        workspace
            .create_page(
                ada,
                NewPage {
                    parent: Some(ParentRef::DataSource(tasks_source)),
                    properties: vec![
                        title_input(&task.title),
                        (
                            "Project".into(),
                            PropertyInput::Value(PropertyValue::Relation(vec![*project])),
                        ),
                        (
                            "Owner".into(),
                            people(users, std::slice::from_ref(&task.owner))?,
                        ),
                        (
                            "Status".into(),
                            PropertyInput::Status(Some(OptionInput::Name(task.status.clone()))),
                        ),
                        (
                            "Priority".into(),
                            PropertyInput::Select(Some(OptionInput::Name(task.priority.clone()))),
                        ),
                        ("Due".into(), date(task.due_offset_days)),
                        (
                            "Estimate (h)".into(),
                            PropertyInput::Value(PropertyValue::Number(Some(task.estimate_hours))),
                        ),
                        (
                            "Tags".into(),
                            PropertyInput::MultiSelect(
                                task.tags.iter().cloned().map(OptionInput::Name).collect(),
                            ),
                        ),
                    ],
                    children: vec![paragraph(&task.notes)],
                    ..Default::default()
                },
            )
            .await?;
    }

    let meetings_source = database(
        workspace,
        ada,
        wiki,
        "Meetings",
        "🗓️",
        vec![
            ("Name".into(), PropertyConfig::Title),
            ("Date".into(), PropertyConfig::Date),
            ("Attendees".into(), PropertyConfig::People),
            (
                "Project".into(),
                PropertyConfig::Relation {
                    data_source_id: projects_source,
                    database_id: projects_source,
                },
            ),
        ],
    )
    .await?;
    for meeting in &meetings {
        let mut properties = vec![
            title_input(&meeting.title),
            ("Date".into(), date(meeting.date_offset_days)),
            ("Attendees".into(), people(users, &meeting.attendees)?),
        ];
        if let Some(project) = meeting.project.as_ref().and_then(|p| project_ids.get(p)) {
            properties.push((
                "Project".into(),
                PropertyInput::Value(PropertyValue::Relation(vec![*project])),
            ));
        }
        let blocks = transcript_blocks(&meeting.transcript);
        let view = workspace
            .create_page(
                ada,
                NewPage {
                    parent: Some(ParentRef::DataSource(meetings_source)),
                    properties,
                    children: Vec::new(),
                    ..Default::default()
                },
            )
            .await?;
        // Long transcripts are appended in batches that respect the per-request limit.
        for batch in blocks.chunks(document::limits::ARRAY_ITEMS_MAX) {
            workspace
                .append_children(
                    ada,
                    view.page.id,
                    batch.to_vec(),
                    crate::AppendPosition::End,
                )
                .await?;
        }
    }
    Ok((projects.len(), tasks.len(), meetings.len()))
}
