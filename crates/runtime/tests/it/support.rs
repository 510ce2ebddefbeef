//! Shared fixtures: guests built once per test process, a runtime, a fake workspace.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use runtime::{
    BlockChildren, DataSourceQuery, Event, Grants, HostError, InvokeSource, LoadedComponent, Page,
    Parent, QueryResults, RunContext, RunLimits, RunRequest, Runtime, RuntimeConfig, SearchHit,
    SearchQuery, SearchResults, Services, WorkspaceHost,
};
use uuid::Uuid;

pub use crate::guests::build_guest;

pub fn probe_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| build_guest("crates/runtime/guests/probe", "probe"))
}

pub fn echo_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| build_guest("integrations/echo", "echo"))
}

/// One runtime for the tests that need nothing special, so components compile once.
pub fn shared_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(test_config()).expect("runtime"))
}

pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        concurrent_runs_max: 16,
        memory_bytes_max_ceiling: 64 << 20,
        epoch_tick_ms: 2,
        ..RuntimeConfig::default()
    }
}

pub fn probe() -> LoadedComponent {
    shared_runtime().load(probe_bytes()).expect("load probe")
}

pub fn echo() -> LoadedComponent {
    shared_runtime().load(echo_bytes()).expect("load echo")
}

/// The service's actor type, opaque to the runtime.
#[derive(Debug, PartialEq, Eq)]
pub struct TestActor {
    pub user: &'static str,
}

pub const INSTALLATION: &str = "installation-1";

pub fn context() -> RunContext {
    RunContext::new(INSTALLATION, Arc::new(TestActor { user: "ada" }))
}

/// Limits small enough that hostile runs end quickly.
pub fn test_limits() -> RunLimits {
    RunLimits {
        fuel_max: 500_000_000,
        memory_bytes_max: 32 << 20,
        wall_ms_max: 5_000,
        ..RunLimits::default()
    }
}

/// An `invoke` of the probe with `input`, every capability granted, the given services.
pub fn invoke(input: serde_json::Value, services: Services) -> RunRequest {
    RunRequest {
        context: context(),
        event: Event::Invoke {
            source: InvokeSource::Api,
            input: input.to_string(),
        },
        grants: Grants::all(),
        limits: test_limits(),
        services,
    }
}

/// A workspace with a few pages, some of which the actor may not see. It does what the service
/// will: hidden pages are `NotFound`, and each denial is audited.
#[derive(Default)]
pub struct FakeWorkspace {
    pub pages: HashMap<Uuid, Page>,
    pub hidden: HashSet<Uuid>,
    pub audited_denials: Mutex<Vec<Uuid>>,
    pub actors_seen: Mutex<Vec<String>>,
}

impl FakeWorkspace {
    pub fn with_page(mut self, title: &str, hidden: bool) -> (FakeWorkspace, Uuid) {
        let id = Uuid::now_v7();
        self.pages.insert(
            id,
            Page {
                id,
                parent: Parent::Workspace,
                properties: serde_json::json!({"title": {"title": [{"plain_text": title}]}})
                    .to_string(),
                markdown: Some(format!("# {title}\nbody")),
                in_trash: false,
                created_ms: 1,
                last_edited_ms: 2,
            },
        );
        if hidden {
            self.hidden.insert(id);
        }
        (self, id)
    }

    fn see(&self, context: &RunContext) -> Result<(), HostError> {
        let actor = context
            .actor::<TestActor>()
            .ok_or_else(|| HostError::Internal("no actor".into()))?;
        self.actors_seen
            .lock()
            .unwrap()
            .push(actor.user.to_string());
        Ok(())
    }

    fn visible(&self, id: Uuid) -> Result<&Page, HostError> {
        if self.hidden.contains(&id) {
            self.audited_denials.lock().unwrap().push(id);
            return Err(HostError::NotFound);
        }
        self.pages.get(&id).ok_or(HostError::NotFound)
    }
}

#[async_trait::async_trait]
impl WorkspaceHost for FakeWorkspace {
    async fn search(
        &self,
        context: &RunContext,
        query: &SearchQuery,
    ) -> Result<SearchResults, HostError> {
        self.see(context)?;
        let mut hits: Vec<SearchHit> = self
            .pages
            .values()
            .filter(|page| !self.hidden.contains(&page.id))
            .filter(|page| page.properties.contains(&query.text))
            .map(|page| SearchHit {
                id: page.id,
                kind: runtime::ObjectKind::Page,
                title: page.markdown.clone().unwrap_or_default(),
                last_edited_ms: page.last_edited_ms,
            })
            .collect();
        hits.truncate(query.page_size as usize);
        Ok(SearchResults {
            hits,
            next_cursor: None,
        })
    }

    async fn get_page(
        &self,
        context: &RunContext,
        page_id: Uuid,
        with_markdown: bool,
    ) -> Result<Page, HostError> {
        self.see(context)?;
        let mut page = self.visible(page_id)?.clone();
        if !with_markdown {
            page.markdown = None;
        }
        Ok(page)
    }

    async fn list_block_children(
        &self,
        context: &RunContext,
        block_id: Uuid,
        _cursor: Option<&str>,
        _page_size: u32,
    ) -> Result<BlockChildren, HostError> {
        self.see(context)?;
        self.visible(block_id)?;
        Ok(BlockChildren::default())
    }

    async fn query_data_source(
        &self,
        context: &RunContext,
        _query: &DataSourceQuery,
    ) -> Result<QueryResults, HostError> {
        self.see(context)?;
        Ok(QueryResults::default())
    }
}

/// Services over `workspace`, an empty kv store and no secrets.
pub fn services_with(workspace: Arc<FakeWorkspace>) -> Services {
    Services {
        workspace,
        ..Services::default()
    }
}

/// The run's only outbound attempt, asserted refused as not an approved origin (never sent) and
/// audited as an `http.send` denial.
pub fn refused_as_unapproved(outcome: &runtime::RunOutcome) -> &runtime::OutboundRequest {
    let [attempt] = outcome.record.outbound_requests.as_slice() else {
        panic!("{:?}", outcome.record.outbound_requests);
    };
    assert!(!attempt.allowed, "{attempt:?}");
    assert_eq!(attempt.status, None, "{attempt:?}");
    assert!(
        attempt
            .refusal
            .as_deref()
            .is_some_and(|reason| reason.contains("not an approved origin")),
        "{attempt:?}"
    );
    assert_eq!(outcome.record.denials[0].operation, "http.send");
    attempt
}

/// The guest's error message; fails the test for any other status.
pub fn guest_error(outcome: &runtime::RunOutcome) -> &str {
    match &outcome.record.status {
        runtime::RunStatus::Error(message) => message,
        other => panic!("expected the guest's error, got {other:?}"),
    }
}
