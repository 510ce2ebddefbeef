//! Lists, searches and point checks agree with each other and with the pure permission
//! model, for random page trees, grants, restrictions and trash — for a member, a guest, an
//! integration's bot, and the integration acting for the member (which must see exactly
//! what both may see).

use std::collections::BTreeSet;

use access::{Actor, Grant, Grantee, IntegrationActor, Level, Node, UserActor};
use document::Id;
use document::PropertyInput;
use proptest::prelude::*;
use workspace::{
    ContentQuery, NewPage, PageUpdate, ParentRef, SearchMode, SearchRequest, SearchResult,
};

#[derive(Debug, Clone)]
struct PageSpec {
    parent: Option<usize>,
    inherits: bool,
    grants: Vec<(u8, Level)>,
    trashed: bool,
}

fn spec() -> impl Strategy<Value = Vec<PageSpec>> {
    (1usize..9).prop_flat_map(|size| {
        let pages: Vec<_> = (0..size)
            .map(|i| {
                let parent = if i == 0 {
                    Just(None).boxed()
                } else {
                    proptest::option::weighted(0.75, 0..i).boxed()
                };
                (
                    parent,
                    prop::bool::weighted(0.75),
                    prop::collection::vec(
                        (
                            0u8..4,
                            prop::sample::select(vec![
                                Level::None,
                                Level::CanView,
                                Level::CanEdit,
                                Level::FullAccess,
                            ]),
                        ),
                        0..3,
                    ),
                    prop::bool::weighted(0.1),
                )
                    .prop_map(|(parent, inherits, grants, trashed)| PageSpec {
                        parent,
                        inherits,
                        grants,
                        trashed,
                    })
            })
            .collect();
        pages
    })
}

struct World {
    ids: Vec<Id>,
    specs: Vec<PageSpec>,
    model_grants: Vec<Vec<Grant>>,
    ada: Id,
}

impl World {
    fn chain(&self, mut index: usize) -> Vec<Node> {
        let mut chain = Vec::new();
        loop {
            chain.push(Node {
                id: self.ids[index],
                inherits: self.specs[index].inherits,
                grants: self.model_grants[index].clone(),
            });
            match self.specs[index].parent {
                Some(parent) => index = parent,
                None => break,
            }
        }
        chain.push(access::workspace_root(Id::from_u128(1), Level::FullAccess));
        chain
    }

    fn readable(&self, actor: &Actor, index: usize) -> bool {
        access::level(actor, &self.chain(index)) >= Level::CanView
    }

    fn visible_in_lists(&self, actor: &Actor, index: usize) -> bool {
        let mut ancestor = self.specs[index].parent;
        while let Some(a) = ancestor {
            if self.specs[a].trashed {
                return false;
            }
            ancestor = self.specs[a].parent;
        }
        self.readable(actor, index) && !self.specs[index].trashed
    }
}

async fn build(harness: &super::Harness, specs: Vec<PageSpec>) -> World {
    let ada = harness.workspace.authenticate(&harness.ada).await.unwrap();
    let grantees = [
        Grantee::User(harness.ids["ben"].parse().unwrap()),
        Grantee::User(harness.ids["cy"].parse().unwrap()),
        Grantee::Integration(harness.ids["bot"].parse().unwrap()),
        Grantee::WorkspaceMembers,
    ];
    let mut ids = Vec::new();
    let mut model_grants = Vec::new();
    for (index, page) in specs.iter().enumerate() {
        let parent = match page.parent {
            Some(parent) => ParentRef::Page(ids[parent]),
            None => ParentRef::Workspace,
        };
        let title = PropertyInput::Value(document::PropertyValue::Title(vec![
            document::RichText::plain(format!("page {index}")),
        ]));
        // Every page's body says "zebra", so a content search for it must find exactly the
        // pages the actor may read.
        let body = document::markdown::from_markdown(&format!(
            "# Section {index}\n\nThe zebra crossed field {index}."
        ))
        .unwrap();
        let view = harness
            .workspace
            .create_page(
                &ada,
                NewPage {
                    parent: Some(parent),
                    properties: vec![("title".into(), title)],
                    children: body,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let id = view.page.id;
        // Ada keeps full access everywhere, so the grants below cannot lock her out.
        harness
            .workspace
            .share(
                &ada,
                id,
                Grantee::User(ada.author_id()),
                Some(Level::FullAccess),
            )
            .await
            .unwrap();
        let mut grants = vec![Grant {
            grantee: Grantee::User(ada.author_id()),
            level: Level::FullAccess,
        }];
        if !page.inherits {
            harness
                .workspace
                .set_inherits(&ada, id, false)
                .await
                .unwrap();
        }
        for (who, level) in &page.grants {
            let grantee = grantees[*who as usize];
            harness
                .workspace
                .share(&ada, id, grantee, Some(*level))
                .await
                .unwrap();
            grants.retain(|g: &Grant| g.grantee != grantee);
            grants.push(Grant {
                grantee,
                level: *level,
            });
        }
        ids.push(id);
        model_grants.push(grants);
    }
    for (index, page) in specs.iter().enumerate() {
        if page.trashed {
            harness
                .workspace
                .update_page(
                    &ada,
                    ids[index],
                    PageUpdate {
                        in_trash: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
    }
    World {
        ids,
        specs,
        model_grants,
        ada: ada.author_id(),
    }
}

async fn search_all(harness: &super::Harness, actor: &Actor) -> BTreeSet<Id> {
    let mut found = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = harness
            .workspace
            .search(
                actor,
                SearchRequest {
                    page_size: Some(3),
                    start_cursor: cursor,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for result in page.results {
            if let SearchResult::Page(view) = result {
                assert!(found.insert(view.page.id), "search returned a page twice");
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

/// Every object a content search finds, through both the ranked page search (paged) and
/// the chunk search.
async fn content_search_all(
    harness: &super::Harness,
    actor: &Actor,
    mode: SearchMode,
) -> BTreeSet<Id> {
    let mut found = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = harness
            .workspace
            .search_content(
                actor,
                ContentQuery {
                    query: "zebra".into(),
                    mode,
                    page_size: Some(2),
                    start_cursor: cursor,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for hit in page.results {
            if let SearchResult::Page(view) = hit.result {
                assert!(
                    found.insert(view.page.id),
                    "content search returned a page twice"
                );
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let chunks: BTreeSet<Id> = harness
        .workspace
        .search_chunks(actor, "zebra", mode, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.object_id)
        .collect();
    assert_eq!(chunks, found, "chunk search and page search disagree");
    found
}

async fn index_everything(harness: &super::Harness) {
    while harness.workspace.index_changes().await.unwrap().events > 0 {}
}

async fn children_all(harness: &super::Harness, actor: &Actor, parent: Id) -> BTreeSet<Id> {
    let mut found = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = harness
            .workspace
            .list_children(actor, parent, cursor, Some(2))
            .await
            .unwrap();
        for view in page.results {
            found.insert(view.block.id);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next.parse().unwrap()),
            None => return found,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lists_and_search_agree_with_point_checks_and_the_model(specs in spec()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let harness = super::Harness::new().await;
            let world = build(&harness, specs).await;
            let ben = harness.workspace.authenticate(&harness.ben).await.unwrap();
            let cy = harness.workspace.authenticate(&harness.cy).await.unwrap();
            let bot = harness.workspace.authenticate(&harness.bot).await.unwrap();
            let delegated = match (&ben, &bot) {
                (Actor::User(user), Actor::Bot(integration)) => Actor::Delegated {
                    user: UserActor { ..user.clone() },
                    integration: IntegrationActor { ..integration.clone() },
                },
                _ => unreachable!(),
            };
            prop_assert!(world.ada != ben.author_id());
            for (name, actor) in [("ben", &ben), ("cy", &cy), ("bot", &bot), ("ben via bot", &delegated)] {
                let mut expected_search = BTreeSet::new();
                for index in 0..world.ids.len() {
                    let readable = world.readable(actor, index);
                    let point = harness.workspace.retrieve_page(actor, world.ids[index]).await;
                    prop_assert_eq!(point.is_ok(), readable, "{}: point check of page {} disagrees with the model", name, index);
                    if let Err(error) = point {
                        prop_assert_eq!(error.code().as_str(), "object_not_found");
                    }
                    if world.visible_in_lists(actor, index) {
                        expected_search.insert(world.ids[index]);
                    }
                }
                prop_assert_eq!(search_all(&harness, actor).await, expected_search.clone(), "{}: search", name);
                index_everything(&harness).await;
                // Keyword search finds every readable page (all say "zebra"); hybrid ranks the
                // same set. Neither may return anything else.
                prop_assert_eq!(content_search_all(&harness, actor, SearchMode::Keyword).await, expected_search.clone(), "{}: keyword search", name);
                let hybrid = content_search_all(&harness, actor, SearchMode::Hybrid).await;
                prop_assert_eq!(hybrid, expected_search.clone(), "{}: hybrid search", name);
                for index in 0..world.ids.len() {
                    if !world.readable(actor, index) {
                        continue;
                    }
                    let expected: BTreeSet<Id> = (0..world.ids.len())
                        .filter(|c| world.specs[*c].parent == Some(index) && !world.specs[*c].trashed && world.readable(actor, *c))
                        .map(|c| world.ids[c])
                        .collect();
                    // Content blocks are listed too; compare the sub-pages.
                    let pages: BTreeSet<Id> = children_all(&harness, actor, world.ids[index])
                        .await
                        .into_iter()
                        .filter(|id| world.ids.contains(id))
                        .collect();
                    prop_assert_eq!(pages, expected, "{}: children of {}", name, index);
                }
            }
            // What the integration can read for Ben is exactly what both can read.
            for index in 0..world.ids.len() {
                prop_assert_eq!(
                    world.readable(&delegated, index),
                    world.readable(&ben, index) && world.readable(&bot, index)
                );
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_page_moved_out_of_a_shared_tree_disappears_for_the_guest_at_once() {
    let h = super::Harness::new().await;
    let ada = h.workspace.authenticate(&h.ada).await.unwrap();
    let cy = h.workspace.authenticate(&h.cy).await.unwrap();
    let shared = h.page("Shared with Cy").await;
    let private = h.page("Private").await;
    let child = h.subpage(&h.ada, &shared, "Moving page").await;
    h.workspace
        .share(
            &ada,
            shared.parse().unwrap(),
            Grantee::User(cy.author_id()),
            Some(Level::CanView),
        )
        .await
        .unwrap();
    let visible = search_all(&h, &cy).await;
    assert!(visible.contains(&child.parse().unwrap()));
    index_everything(&h).await;
    let found: BTreeSet<Id> = h
        .workspace
        .search_chunks(&cy, "Moving page", SearchMode::Hybrid, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.object_id)
        .collect();
    assert!(
        found.contains(&child.parse().unwrap()),
        "the shared page is found by content"
    );
    h.workspace
        .move_page(
            &ada,
            child.parse().unwrap(),
            ParentRef::Page(private.parse().unwrap()),
        )
        .await
        .unwrap();
    let visible = search_all(&h, &cy).await;
    assert!(
        !visible.contains(&child.parse().unwrap()),
        "moved page still visible"
    );
    // Before the indexer has seen the move (the mirror is stale), and after.
    for indexed in [false, true] {
        if indexed {
            index_everything(&h).await;
        }
        for mode in [
            SearchMode::Keyword,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ] {
            let found: BTreeSet<Id> = h
                .workspace
                .search_chunks(&cy, "Moving page", mode, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|hit| hit.object_id)
                .collect();
            assert!(
                !found.contains(&child.parse().unwrap()),
                "moved page still found by {mode:?} content search (indexed: {indexed})"
            );
        }
    }
    assert_eq!(
        h.workspace
            .retrieve_page(&cy, child.parse().unwrap())
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "object_not_found"
    );
}
