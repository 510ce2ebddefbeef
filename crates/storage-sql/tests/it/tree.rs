//! Nodes, positions, chains with grants, and title search.

use access::{Grant, Grantee, Level};
use document::{Block, BlockKind, Id, Page, Parent, PropertyValue, RichText};
use storage_sql::{Node, NodeKind, Position};

fn page(id: u128, parent: Parent, title: &str, time: i64) -> Page {
    Page {
        id: Id::from_u128(id),
        parent,
        properties: [(
            "title".to_string(),
            PropertyValue::Title(vec![RichText::plain(title)]),
        )]
        .into(),
        icon: None,
        cover: None,
        in_trash: false,
        is_locked: false,
        created_time: time,
        created_by: Id::from_u128(1),
        last_edited_time: time,
        last_edited_by: Id::from_u128(1),
    }
}

fn block(id: u128, parent: u128) -> Node {
    Node::Block(Block {
        id: Id::from_u128(id),
        parent: Parent::Page(Id::from_u128(parent)),
        kind: BlockKind::Divider,
        has_children: false,
        in_trash: false,
        created_time: 0,
        created_by: Id::from_u128(1),
        last_edited_time: 0,
        last_edited_by: Id::from_u128(1),
    })
}

#[tokio::test]
async fn positions_chains_grants_and_search() {
    for (dialect, store) in super::stores().await {
        let mut tx = store.write().await.unwrap();
        tx.insert_node(
            &Node::Page(page(10, Parent::Workspace, "Company Wiki", 1)),
            true,
            Position::End,
        )
        .await
        .unwrap();
        tx.insert_node(
            &Node::Page(page(11, Parent::Page(Id::from_u128(10)), "Finance", 2)),
            false,
            Position::End,
        )
        .await
        .unwrap();
        tx.insert_node(
            &Node::Page(page(12, Parent::Page(Id::from_u128(11)), "Salary Bands", 3)),
            true,
            Position::End,
        )
        .await
        .unwrap();
        tx.set_grant(
            Id::from_u128(11),
            Grant {
                grantee: Grantee::User(Id::from_u128(7)),
                level: Level::FullAccess,
            },
        )
        .await
        .unwrap();
        // Blocks: append a, c, then b after a, then z at the start.
        tx.insert_node(&block(20, 12), true, Position::End)
            .await
            .unwrap();
        tx.insert_node(&block(22, 12), true, Position::End)
            .await
            .unwrap();
        tx.insert_node(&block(21, 12), true, Position::After(Id::from_u128(20)))
            .await
            .unwrap();
        tx.insert_node(&block(19, 12), true, Position::Start)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.read().await.unwrap();
        let children: Vec<u128> = tx
            .children(Id::from_u128(12), None, 10)
            .await
            .unwrap()
            .iter()
            .map(|n| n.node.id().as_u128())
            .collect();
        assert_eq!(children, vec![19, 20, 21, 22], "{dialect}: sibling order");
        let chain = tx.chain(Id::from_u128(20)).await.unwrap();
        let ids: Vec<u128> = chain.nodes.iter().map(|n| n.id.as_u128()).collect();
        assert_eq!(ids, vec![20, 12, 11, 10], "{dialect}: chain");
        assert_eq!(chain.kinds[0], NodeKind::Block);
        assert_eq!(chain.nearest_page(), Some(Id::from_u128(12)));
        assert!(
            !chain.nodes[2].inherits,
            "{dialect}: Finance stops inheriting"
        );
        assert_eq!(
            chain.nodes[2].grants,
            vec![Grant {
                grantee: Grantee::User(Id::from_u128(7)),
                level: Level::FullAccess
            }]
        );
        let found = tx
            .search_titles("sALARY", &[NodeKind::Page], false, None, 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{dialect}: case-insensitive title search");
        let all = tx
            .search_titles("", &[NodeKind::Page], false, None, 10)
            .await
            .unwrap();
        let order: Vec<u128> = all.iter().map(|n| n.node.id().as_u128()).collect();
        assert_eq!(order, vec![12, 11, 10], "{dialect}: newest edit first");
        let after = tx
            .search_titles(
                "",
                &[NodeKind::Page],
                false,
                Some((2, Id::from_u128(11))),
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            after
                .iter()
                .map(|n| n.node.id().as_u128())
                .collect::<Vec<_>>(),
            vec![10],
            "{dialect}: keyset cursor"
        );
        let roundtrip = tx.get_node(Id::from_u128(12)).await.unwrap().unwrap();
        assert_eq!(
            roundtrip.node,
            Node::Page(page(12, Parent::Page(Id::from_u128(11)), "Salary Bands", 3))
        );
        assert!(roundtrip.has_block_children && !roundtrip.has_page_children);
        tx.commit().await.unwrap();
        store.close().await;
    }
}

#[tokio::test]
async fn migrations_run_once_and_reopen_cleanly() {
    let dir = std::env::temp_dir().join(format!("trellis-migrate-{}", uuid::Uuid::new_v4()));
    for _ in 0..2 {
        let store = storage_sql::Store::open_data_dir(&dir).await.unwrap();
        let mut tx = store.read().await.unwrap();
        assert!(tx.workspace().await.unwrap().is_none());
        tx.commit().await.unwrap();
        store.close().await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A tree deeper than the depth limit (written before the limit was enforced) must not pass
/// its deepest nodes off as top-level ones: the chain says it is too deep, and the access walk
/// on it finds no grant from above the limit, in particular not the workspace root's.
#[tokio::test]
async fn chains_past_the_depth_limit_fail_closed() {
    let max = storage_sql::TREE_DEPTH_MAX as u128;
    for (dialect, store) in super::stores().await {
        let mut tx = store.write().await.unwrap();
        // A private top-level page (it does not inherit from the workspace root), then a
        // plain chain below it, 40 levels past the limit.
        tx.insert_node(
            &Node::Page(page(1_000, Parent::Workspace, "Private", 1)),
            false,
            Position::End,
        )
        .await
        .unwrap();
        for level in 1..(max + 40) {
            let parent = Parent::Page(Id::from_u128(1_000 + level - 1));
            tx.insert_node(
                &Node::Page(page(1_000 + level, parent, "Deep", 1)),
                true,
                Position::End,
            )
            .await
            .unwrap();
        }
        let member = access::Actor::User(access::UserActor {
            id: Id::from_u128(77),
            role: access::Role::Member,
            groups: Vec::new(),
        });
        let root = access::workspace_root(Id::from_u128(5), Level::FullAccess);
        let within = tx.chain(Id::from_u128(1_000 + max - 1)).await.unwrap();
        assert!(!within.too_deep(), "{dialect}");
        assert_eq!(within.nodes.len() as u128, max, "{dialect}");
        assert_eq!(
            access::level(&member, &within.with_root(&root)),
            Level::None
        );
        for level in [max, max + 1, max + 39] {
            let chain = tx.chain(Id::from_u128(1_000 + level)).await.unwrap();
            assert!(chain.too_deep(), "{dialect}: level {level}");
            assert_eq!(
                access::level(&member, &chain.with_root(&root)),
                Level::None,
                "{dialect}: level {level}"
            );
        }
        // A grant below the limit still counts.
        tx.set_grant(
            Id::from_u128(1_000 + max + 10),
            Grant {
                grantee: Grantee::User(Id::from_u128(77)),
                level: Level::CanView,
            },
        )
        .await
        .unwrap();
        let chain = tx.chain(Id::from_u128(1_000 + max + 20)).await.unwrap();
        assert_eq!(
            access::level(&member, &chain.with_root(&root)),
            Level::CanView
        );
        assert_eq!(
            tx.subtree_height(Id::from_u128(1_000 + max + 30))
                .await
                .unwrap(),
            9
        );
        tx.rollback().await.unwrap();
    }
}

mod depth_property {
    use access::{Grant, Grantee, Level};
    use document::Id;
    use proptest::prelude::*;
    use storage_sql::Chain;

    fn node(index: usize, grant: Option<Level>, inherits: bool) -> access::Node {
        access::Node {
            id: Id::from_u128(index as u128 + 1),
            inherits,
            grants: grant
                .map(|level| Grant {
                    grantee: Grantee::WorkspaceMembers,
                    level,
                })
                .into_iter()
                .collect(),
        }
    }

    proptest! {
        /// Reading a chain only up to the limit never grants more than the whole chain would:
        /// truncation fails closed at every depth, below, at and past the limit.
        #[test]
        fn a_truncated_chain_never_grants_more(
            depth in 1usize..(2 * document::limits::TREE_DEPTH_LEVELS_MAX),
            grants in proptest::collection::vec((0usize..600, 1u8..5), 0..4),
            stop in proptest::option::of(0usize..600),
            root_level in 0u8..5,
        ) {
            let level_of = |n: u8| [Level::None, Level::CanView, Level::CanComment, Level::CanEdit, Level::FullAccess][n as usize];
            let full: Vec<access::Node> = (0..depth)
                .map(|i| {
                    let grant = grants.iter().find(|(at, _)| *at == i).map(|(_, l)| level_of(*l));
                    node(i, grant, stop != Some(i))
                })
                .collect();
            let root = access::workspace_root(Id::from_u128(9_999), level_of(root_level));
            let member = access::Actor::User(access::UserActor {
                id: Id::from_u128(77),
                role: access::Role::Member,
                groups: Vec::new(),
            });
            let read = (storage_sql::TREE_DEPTH_MAX as usize + 1).min(depth);
            let chain = Chain {
                nodes: full[..read].to_vec(),
                kinds: vec![storage_sql::NodeKind::Page; read],
                in_trash: vec![false; read],
                trashed_ancestor: false,
            };
            let mut whole = full.clone();
            whole.push(root.clone());
            let truncated = access::level(&member, &chain.with_root(&root));
            prop_assert!(truncated <= access::level(&member, &whole));
            if depth <= storage_sql::TREE_DEPTH_MAX as usize {
                prop_assert_eq!(truncated, access::level(&member, &whole));
            }
        }
    }
}
