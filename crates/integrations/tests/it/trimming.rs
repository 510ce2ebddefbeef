//! The permission-trimming property: what a run can read is exactly what the invoking user can
//! read intersected with what the integration was given, and nothing when its scopes don't
//! include reading. Random trees, restrictions, grants, scopes and invokers.

use access::IntegrationActor;
use integrations::{InstallRequest, WorkspaceScope};
use proptest::prelude::*;
use serde_json::json;
use storage_sql::RunStatus;
use workspace::{Actor, Grantee, Level, ParentRef};

use crate::{Fixture, message, page, probe, probe_manifest};

#[derive(Debug, Clone)]
struct PageSpec {
    /// Index of an earlier page to nest under, or the workspace.
    parent: Option<usize>,
    restricted: bool,
    shared_with_integration: bool,
    granted_to_ben: bool,
}

fn page_spec() -> impl Strategy<Value = PageSpec> {
    (
        any::<Option<prop::sample::Index>>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(parent, restricted, shared, ben)| PageSpec {
            parent: parent.map(|index| index.index(usize::MAX)),
            restricted,
            shared_with_integration: shared,
            granted_to_ben: ben,
        })
}

async fn check(specs: Vec<PageSpec>, read_scope: bool, as_ben: bool) {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let fixture = Fixture::new(store).await;
    let package = fixture
        .platform
        .register(&fixture.ada, &probe_manifest("1.0.0", ""), probe())
        .await
        .unwrap();
    let scopes = if read_scope {
        vec![WorkspaceScope::ReadContent]
    } else {
        vec![WorkspaceScope::InsertComments]
    };
    let installation = fixture
        .platform
        .install(
            &fixture.ada,
            InstallRequest {
                package_id: package.record.id,
                workspace: Some(scopes),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let integration = installation.record.integration_id;
    let mut pages = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let parent = match spec.parent {
            Some(parent) if index > 0 => ParentRef::Page(pages[parent % index]),
            _ => ParentRef::Workspace,
        };
        let id = page(
            &fixture.workspace,
            &fixture.ada,
            parent,
            &format!("p{index}"),
        )
        .await;
        if spec.restricted {
            fixture
                .workspace
                .set_inherits(&fixture.ada, id, false)
                .await
                .unwrap();
        }
        if spec.shared_with_integration {
            fixture
                .workspace
                .share(
                    &fixture.ada,
                    id,
                    Grantee::Integration(integration),
                    Some(Level::CanView),
                )
                .await
                .unwrap();
        }
        if spec.granted_to_ben {
            let ben = fixture.ben.user().unwrap().id;
            fixture
                .workspace
                .share(&fixture.ada, id, Grantee::User(ben), Some(Level::CanView))
                .await
                .unwrap();
        }
        pages.push(id);
    }
    let user = if as_ben { &fixture.ben } else { &fixture.ada };
    // The integration on its own, with reading allowed: what it was given.
    let bot = Actor::Bot(IntegrationActor {
        id: integration,
        bot_user_id: document::Id::new(),
        capabilities: access::Capabilities::READ_ONLY,
    });
    for (index, page) in pages.iter().enumerate() {
        let expected = read_scope
            && fixture.workspace.can_read(user, *page).await.unwrap()
            && fixture.workspace.can_read(&bot, *page).await.unwrap();
        let run = fixture
            .invoke(
                user,
                installation.record.id,
                json!({"op": "get-page", "page_id": page.to_string()}),
            )
            .await;
        let read = run.status() == RunStatus::Ok;
        assert_eq!(
            read,
            expected,
            "page {index} of {specs:?} (read scope {read_scope}, as ben {as_ben}): {}",
            message(&run)
        );
        if !read {
            // Refused without a trace of the page: no title, no properties.
            let text = run.to_json().to_string();
            assert!(!text.contains(&format!("\"p{index}\"")), "{text}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn a_run_reads_exactly_the_users_access_intersected_with_the_integrations(
        specs in prop::collection::vec(page_spec(), 1..7),
        read_scope in prop::bool::weighted(0.8),
        as_ben in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(specs, read_scope, as_ben));
    }
}

/// The `vector-search` capability searches content as the run's actor: a page the invoking user
/// can't read, or that was not shared with the integration, never comes back.
#[tokio::test]
async fn vector_search_returns_only_pages_in_the_intersection() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let workspace = workspace::Workspace::new(store)
        .await
        .unwrap()
        .enable_content_search(
            None,
            std::sync::Arc::new(embedding::HashingEmbedder::new(64).unwrap()),
            &|_, _| {},
        )
        .await
        .unwrap();
    let fixture = Fixture::on(workspace).await;
    let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
    for page in [fixture.shared, fixture.private, fixture.unshared] {
        fixture
            .workspace
            .insert_page_markdown(&fixture.ada, page, "Quarterly budget planning notes")
            .await
            .unwrap();
    }
    while fixture.workspace.index_changes().await.unwrap().events > 0 {}
    let search = json!({"op": "vector-search", "query": "budget planning", "limit": 10});
    let found = |run: &integrations::RunView| -> Vec<String> {
        assert_eq!(run.status(), RunStatus::Ok, "{}", message(run));
        let mut pages: Vec<String> = crate::output(run)["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|page| page.as_str().unwrap().to_string())
            .collect();
        pages.sort();
        pages
    };
    let mut expected = vec![fixture.shared.to_string(), fixture.private.to_string()];
    expected.sort();
    let run = fixture
        .invoke(&fixture.ada, installation.record.id, search.clone())
        .await;
    assert_eq!(
        found(&run),
        expected,
        "Ada: the pages shared with the integration"
    );
    let run = fixture
        .invoke(&fixture.ben, installation.record.id, search)
        .await;
    assert_eq!(
        found(&run),
        vec![fixture.shared.to_string()],
        "Ben can't read `private`"
    );
}
