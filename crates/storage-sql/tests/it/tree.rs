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
