//! The integration platform's tests, in process: real components (built for wasm32-wasip2 by
//! cargo), the real runtime and workspace service, on in-memory SQLite and — when
//! `TRELLIS_TEST_POSTGRES_URL` is set, as `.ci/run` does — on a fresh PostgreSQL database.

mod budget;
mod manifest;
mod runs;
mod triggers;
mod trimming;

#[path = "../../../runtime/tests/it/guests.rs"]
#[allow(dead_code)]
mod guests;

use std::sync::OnceLock;
use std::time::Duration;

use document::Id;
use integrations::{InstallRequest, InstallationView, Platform, PlatformLimits, RunView};
use serde_json::Value;
use storage_sql::Store;
use workspace::{Actor, Grantee, Level, NewPage, NewUser, ParentRef, Role, Workspace};

/// The probe guest: its invoke input's `op` picks a behaviour, well-behaved or hostile.
pub fn probe() -> &'static [u8] {
    static PROBE: OnceLock<Vec<u8>> = OnceLock::new();
    PROBE.get_or_init(|| guests::build_guest("crates/runtime/guests/probe", "probe"))
}

/// A manifest for the probe that declares everything it imports.
pub fn probe_manifest(version: &str, extra: &str) -> String {
    format!(
        r#"
[integration]
name = "probe"
version = "{version}"
language = "rust"

[scopes]
workspace = ["read_content", "update_content", "insert_content", "insert_comments"]
kv = true
secrets = ["API_TOKEN"]
models = true
vector_search = true

[egress]
allow = ["https://api.example.com"]

{extra}
"#
    )
}

/// The stores under test: in-memory SQLite always, PostgreSQL when configured.
pub async fn stores() -> Vec<(&'static str, Store)> {
    let mut stores = vec![(
        "sqlite",
        Store::open("sqlite::memory:").await.expect("open sqlite"),
    )];
    if let Some(base) = std::env::var("TRELLIS_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let url = storage_sql::create_postgres_database(&base)
            .await
            .expect("create a test database");
        stores.push(("postgres", Store::open(&url).await.expect("open postgres")));
    }
    stores
}

/// A workspace with an owner (Ada), a member (Ben) and pages:
/// - `shared`: readable by everyone, shared with the integration;
/// - `private`: Ada's only (restricted), shared with the integration;
/// - `unshared`: readable by everyone, not shared with the integration.
pub struct Fixture {
    pub workspace: Workspace,
    pub platform: Platform,
    pub ada: Actor,
    pub ben: Actor,
    pub shared: Id,
    pub private: Id,
    pub unshared: Id,
}

pub fn runtime() -> runtime::Runtime {
    runtime::Runtime::new(runtime::RuntimeConfig {
        // Compiled once for all the tests of a run, as a server keeps them between restarts.
        cache_dir: Some(std::env::temp_dir().join("trellis-integrations-test-components")),
        concurrent_runs_max: 16,
        memory_bytes_max_ceiling: 256 << 20,
        ..Default::default()
    })
    .expect("runtime")
}

pub async fn page(workspace: &Workspace, actor: &Actor, parent: ParentRef, title: &str) -> Id {
    workspace
        .create_page(
            actor,
            NewPage {
                parent: Some(parent),
                properties: vec![(
                    "title".into(),
                    document::PropertyInput::Value(document::PropertyValue::Title(vec![
                        document::RichText::plain(title),
                    ])),
                )],
                ..Default::default()
            },
        )
        .await
        .expect("create page")
        .page
        .id
}

impl Fixture {
    pub async fn new(store: Store) -> Fixture {
        Fixture::with_limits(store, PlatformLimits::default()).await
    }

    pub async fn with_limits(store: Store, limits: PlatformLimits) -> Fixture {
        let workspace = Workspace::new(store).await.expect("workspace");
        Fixture::build(workspace, limits).await
    }

    /// On a workspace set up by the caller (with content search, say).
    pub async fn on(workspace: Workspace) -> Fixture {
        Fixture::build(workspace, PlatformLimits::default()).await
    }

    async fn build(workspace: Workspace, limits: PlatformLimits) -> Fixture {
        let mut actors = Vec::new();
        for (name, role) in [("ada", Role::Owner), ("ben", Role::Member)] {
            let user = workspace
                .create_user(NewUser {
                    email: format!("{name}@example.com"),
                    name: name.into(),
                    role,
                    password: None,
                })
                .await
                .expect("user");
            actors.push(workspace.actor_for_user(user.id).await.expect("actor"));
        }
        let ben = actors.pop().expect("ben");
        let ada = actors.pop().expect("ada");
        let shared = page(&workspace, &ada, ParentRef::Workspace, "Shared").await;
        let private = page(&workspace, &ada, ParentRef::Workspace, "Private").await;
        workspace
            .set_inherits(&ada, private, false)
            .await
            .expect("restrict");
        let unshared = page(&workspace, &ada, ParentRef::Workspace, "Unshared").await;
        let platform = Platform::new(workspace.clone(), runtime(), limits);
        Fixture {
            workspace,
            platform,
            ada,
            ben,
            shared,
            private,
            unshared,
        }
    }

    /// Registers and installs a component, and shares `shared` and `private` with it.
    pub async fn install(&self, manifest: &str, component: &[u8]) -> InstallationView {
        let package = self
            .platform
            .register(&self.ada, manifest, component)
            .await
            .expect("register");
        let view = self
            .platform
            .install(
                &self.ada,
                InstallRequest {
                    package_id: package.record.id,
                    ..Default::default()
                },
            )
            .await
            .expect("install");
        for page in [self.shared, self.private] {
            self.workspace
                .share(
                    &self.ada,
                    page,
                    Grantee::Integration(view.record.integration_id),
                    Some(Level::FullAccess),
                )
                .await
                .expect("share with the integration");
        }
        view
    }

    /// Invokes as `actor` and drives the worker until the run ends.
    pub async fn invoke(&self, actor: &Actor, installation: Id, input: Value) -> RunView {
        let run = self
            .platform
            .invoke(actor, installation, &input, runtime::InvokeSource::Api)
            .await
            .expect("invoke");
        self.finish(actor, run.row.id).await
    }

    /// Drives the worker until the run ends.
    pub async fn finish(&self, actor: &Actor, run: Id) -> RunView {
        for _ in 0..2_000 {
            self.platform.work().await.expect("worker pass");
            let view = self.platform.run(actor, run).await.expect("run");
            if view.status().is_ended() {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("run {run} did not end");
    }

    /// The titles of the pages directly under `parent`, as Ada sees them.
    pub async fn children(&self, parent: Id) -> Vec<String> {
        let page = self
            .workspace
            .list_children(&self.ada, parent, None, Some(100))
            .await
            .expect("children");
        page.results
            .iter()
            .filter(|view| matches!(view.block.kind, document::BlockKind::ChildPage))
            .map(|view| view.linked_title.clone().unwrap_or_default())
            .collect()
    }
}

/// The record's message, or "" when it has none.
pub fn message(view: &RunView) -> String {
    let json = view.to_json();
    json["record"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn output(view: &RunView) -> Value {
    view.to_json()["output"].clone()
}
