//! Nodes of the workspace tree (pages, databases, data sources, blocks), their grants,
//! permission chains, title search and comments.

use access::{Grant, Grantee, Level};
use document::data_source::title_plain;
use document::filter::fold;
use document::{Block, DataSource, Database, Id, Page, Parent, RichText};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::binds::Binds;
use crate::records::{self, BlockRecord, DataSourceRecord, DatabaseRecord, PageRecord};
use crate::{Dialect, Error, Result, Tx, parse_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Page,
    Database,
    DataSource,
    Block,
}

impl NodeKind {
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Page => "page",
            NodeKind::Database => "database",
            NodeKind::DataSource => "data_source",
            NodeKind::Block => "block",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<NodeKind> {
        Ok(match text {
            "page" => NodeKind::Page,
            "database" => NodeKind::Database,
            "data_source" => NodeKind::DataSource,
            "block" => NodeKind::Block,
            other => return Err(Error::Corrupt(format!("unknown node kind `{other}`"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Page(Page),
    Database(Database),
    DataSource(DataSource),
    Block(Block),
}

impl Node {
    pub fn id(&self) -> Id {
        match self {
            Node::Page(page) => page.id,
            Node::Database(database) => database.id,
            Node::DataSource(data_source) => data_source.id,
            Node::Block(block) => block.id,
        }
    }

    pub fn kind(&self) -> NodeKind {
        match self {
            Node::Page(_) => NodeKind::Page,
            Node::Database(_) => NodeKind::Database,
            Node::DataSource(_) => NodeKind::DataSource,
            Node::Block(_) => NodeKind::Block,
        }
    }

    pub fn parent(&self) -> Parent {
        match self {
            Node::Page(page) => page.parent,
            Node::Database(database) => database.parent,
            Node::DataSource(data_source) => Parent::Database(data_source.database_id),
            Node::Block(block) => block.parent,
        }
    }

    pub fn in_trash(&self) -> bool {
        match self {
            Node::Page(page) => page.in_trash,
            Node::Database(database) => database.in_trash,
            Node::DataSource(data_source) => data_source.in_trash,
            Node::Block(block) => block.in_trash,
        }
    }

    pub fn title(&self) -> String {
        match self {
            Node::Page(page) => page.title(),
            Node::Database(database) => title_plain(&database.title),
            Node::DataSource(data_source) => title_plain(&data_source.title),
            Node::Block(_) => String::new(),
        }
    }

    fn times(&self) -> (i64, Id, i64, Id) {
        match self {
            Node::Page(p) => (
                p.created_time,
                p.created_by,
                p.last_edited_time,
                p.last_edited_by,
            ),
            Node::Database(d) => (
                d.created_time,
                d.created_by,
                d.last_edited_time,
                d.last_edited_by,
            ),
            Node::DataSource(d) => (
                d.created_time,
                d.created_by,
                d.last_edited_time,
                d.last_edited_by,
            ),
            Node::Block(b) => (
                b.created_time,
                b.created_by,
                b.last_edited_time,
                b.last_edited_by,
            ),
        }
    }

    fn record(&self) -> Result<String> {
        match self {
            Node::Page(page) => records::encode(&PageRecord {
                properties: page.properties.clone(),
                icon: page.icon.clone(),
                cover: page.cover.clone(),
                is_locked: page.is_locked,
                database_id: match page.parent {
                    Parent::DataSource { database_id, .. } => Some(database_id),
                    _ => None,
                },
            }),
            Node::Database(database) => records::encode(&DatabaseRecord {
                title: database.title.clone(),
                description: database.description.clone(),
                icon: database.icon.clone(),
                cover: database.cover.clone(),
                is_inline: database.is_inline,
                is_locked: database.is_locked,
            }),
            Node::DataSource(data_source) => records::encode(&DataSourceRecord {
                title: data_source.title.clone(),
                description: data_source.description.clone(),
                icon: data_source.icon.clone(),
                properties: data_source.properties.clone(),
            }),
            Node::Block(block) => records::encode(&BlockRecord {
                kind: block.kind.clone(),
            }),
        }
    }
}

/// A node as stored, with the tree facts that are not part of the domain object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNode {
    pub node: Node,
    pub inherits: bool,
    pub position: i64,
    /// Whether the node has content blocks (visible to whoever sees the node).
    pub has_block_children: bool,
    /// Whether the node has sub-pages or databases (each with its own access).
    pub has_page_children: bool,
}

impl StoredNode {
    /// Whether the node has children of any kind, before access is considered.
    pub fn has_any_children(&self) -> bool {
        self.has_block_children || self.has_page_children
    }
}

/// A node's ancestry for access decisions: node first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chain {
    pub nodes: Vec<access::Node>,
    pub kinds: Vec<NodeKind>,
    /// Each node's own trash flag, in chain order.
    pub in_trash: Vec<bool>,
    /// Whether an ancestor (not the node itself) is in the trash.
    pub trashed_ancestor: bool,
}

impl Chain {
    /// Whether the walk stopped at the depth limit before reaching the top of the tree: what
    /// lies above is unknown, so no access may be inherited from it.
    pub fn too_deep(&self) -> bool {
        self.nodes.len() > TREE_DEPTH_MAX as usize
    }

    /// The chain for `access::level`: the nodes, then the workspace root. A chain that is
    /// [`Chain::too_deep`] ends in a node that grants nothing and stops the walk instead, so
    /// only grants found below the limit count (fail closed).
    pub fn with_root(&self, root: &access::Node) -> Vec<access::Node> {
        let mut nodes = self.nodes.clone();
        if self.too_deep() {
            nodes.push(access::Node {
                id: root.id,
                inherits: false,
                grants: Vec::new(),
            });
        } else {
            nodes.push(root.clone());
        }
        nodes
    }

    /// The nearest page in the chain (the node itself if it is a page).
    pub fn nearest_page(&self) -> Option<Id> {
        self.nodes
            .iter()
            .zip(&self.kinds)
            .find(|(_, kind)| **kind == NodeKind::Page)
            .map(|(node, _)| node.id)
    }
}

/// Where a new node goes among its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Start,
    End,
    After(Id),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: Id,
    pub page_id: Id,
    pub block_id: Option<Id>,
    pub discussion_id: Id,
    pub rich_text: Vec<RichText>,
    pub created_time: i64,
    pub created_by: Id,
}

const NODE_COLUMNS: &str = "n.id, n.kind, n.parent_kind, n.parent_id, n.position, n.inherits, n.in_trash, n.data, \
     n.created_time, n.created_by, n.last_edited_time, n.last_edited_by, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM nodes c WHERE c.parent_id = n.id AND c.kind = 'block' AND c.in_trash = 0) \
     THEN 1 ELSE 0 END AS BIGINT) AS has_block_children, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM nodes c WHERE c.parent_id = n.id AND c.kind IN ('page', 'database') AND c.in_trash = 0) \
     THEN 1 ELSE 0 END AS BIGINT) AS has_page_children";

/// Kinds listed as a block's children: blocks, sub-pages and inline databases.
const CHILD_KINDS: &str = "('block', 'page', 'database')";

fn parent_columns(parent: &Parent) -> (&'static str, Option<String>) {
    match parent {
        Parent::Workspace => ("workspace", None),
        Parent::Page(id) => ("page", Some(id.to_string())),
        Parent::Block(id) => ("block", Some(id.to_string())),
        Parent::Database(id) => ("database", Some(id.to_string())),
        Parent::DataSource { data_source_id, .. } => {
            ("data_source", Some(data_source_id.to_string()))
        }
    }
}

fn decode_node(row: &AnyRow) -> Result<StoredNode> {
    let id = parse_id(&row.try_get::<String, _>("id")?)?;
    let kind = NodeKind::parse(&row.try_get::<String, _>("kind")?)?;
    let parent_kind: String = row.try_get("parent_kind")?;
    let parent_id: Option<String> = row.try_get("parent_id")?;
    let parent_id = parent_id.as_deref().map(parse_id).transpose()?;
    let data: String = row.try_get("data")?;
    let in_trash = row.try_get::<i64, _>("in_trash")? != 0;
    let created_time: i64 = row.try_get("created_time")?;
    let created_by = parse_id(&row.try_get::<String, _>("created_by")?)?;
    let last_edited_time: i64 = row.try_get("last_edited_time")?;
    let last_edited_by = parse_id(&row.try_get::<String, _>("last_edited_by")?)?;
    let need_parent =
        || parent_id.ok_or_else(|| Error::Corrupt(format!("node {id} has no parent id")));
    let node = match kind {
        NodeKind::Page => {
            let record: PageRecord = records::decode(&data, "page")?;
            let parent = match parent_kind.as_str() {
                "workspace" => Parent::Workspace,
                "page" => Parent::Page(need_parent()?),
                "block" => Parent::Block(need_parent()?),
                "data_source" => Parent::DataSource {
                    data_source_id: need_parent()?,
                    database_id: record
                        .database_id
                        .ok_or_else(|| Error::Corrupt(format!("row {id} has no database id")))?,
                },
                other => {
                    return Err(Error::Corrupt(format!(
                        "page {id} has parent kind `{other}`"
                    )));
                }
            };
            Node::Page(Page {
                id,
                parent,
                properties: record.properties,
                icon: record.icon,
                cover: record.cover,
                in_trash,
                is_locked: record.is_locked,
                created_time,
                created_by,
                last_edited_time,
                last_edited_by,
            })
        }
        NodeKind::Database => {
            let record: DatabaseRecord = records::decode(&data, "database")?;
            let parent = match parent_kind.as_str() {
                "workspace" => Parent::Workspace,
                "page" => Parent::Page(need_parent()?),
                "block" => Parent::Block(need_parent()?),
                other => {
                    return Err(Error::Corrupt(format!(
                        "database {id} has parent kind `{other}`"
                    )));
                }
            };
            Node::Database(Database {
                id,
                parent,
                title: record.title,
                description: record.description,
                icon: record.icon,
                cover: record.cover,
                is_inline: record.is_inline,
                in_trash,
                is_locked: record.is_locked,
                created_time,
                created_by,
                last_edited_time,
                last_edited_by,
            })
        }
        NodeKind::DataSource => {
            let record: DataSourceRecord = records::decode(&data, "data source")?;
            Node::DataSource(DataSource {
                id,
                database_id: need_parent()?,
                title: record.title,
                description: record.description,
                icon: record.icon,
                properties: record.properties,
                in_trash,
                created_time,
                created_by,
                last_edited_time,
                last_edited_by,
            })
        }
        NodeKind::Block => {
            let record: BlockRecord = records::decode(&data, "block")?;
            let parent = match parent_kind.as_str() {
                "page" => Parent::Page(need_parent()?),
                "block" => Parent::Block(need_parent()?),
                other => {
                    return Err(Error::Corrupt(format!(
                        "block {id} has parent kind `{other}`"
                    )));
                }
            };
            Node::Block(Block {
                id,
                parent,
                kind: record.kind,
                has_children: false,
                in_trash,
                created_time,
                created_by,
                last_edited_time,
                last_edited_by,
            })
        }
    };
    // EXISTS stops at the first child: a data source with 100,000 rows costs one probe.
    let has_block_children = row.try_get::<i64, _>("has_block_children")? != 0;
    let has_page_children = row.try_get::<i64, _>("has_page_children")? != 0;
    let has_children = has_block_children || has_page_children;
    let node = match node {
        Node::Block(mut block) => {
            block.has_children = has_children;
            Node::Block(block)
        }
        other => other,
    };
    Ok(StoredNode {
        node,
        inherits: row.try_get::<i64, _>("inherits")? != 0,
        position: row.try_get("position")?,
        has_block_children,
        has_page_children,
    })
}

fn grantee_columns(grantee: &Grantee) -> (&'static str, String) {
    match grantee {
        Grantee::User(id) => ("user", id.to_string()),
        Grantee::Group(id) => ("group", id.to_string()),
        Grantee::Integration(id) => ("integration", id.to_string()),
        Grantee::WorkspaceMembers => ("workspace", String::new()),
    }
}

pub(crate) fn decode_grant(kind: &str, id: &str, level: &str) -> Result<Grant> {
    let grantee = match kind {
        "user" => Grantee::User(parse_id(id)?),
        "group" => Grantee::Group(parse_id(id)?),
        "integration" => Grantee::Integration(parse_id(id)?),
        "workspace" => Grantee::WorkspaceMembers,
        other => return Err(Error::Corrupt(format!("unknown grantee kind `{other}`"))),
    };
    let level = Level::from_name(level)
        .ok_or_else(|| Error::Corrupt(format!("unknown access level `{level}`")))?;
    Ok(Grant { grantee, level })
}

/// Deepest page tree the store follows (`document::limits::TREE_DEPTH_LEVELS_MAX`). A chain
/// walk reads one level past it, so that a tree deeper than the limit (written before the
/// limit was enforced, or a cycle from a torn update) shows as [`Chain::too_deep`] instead of
/// passing for a top-level node.
pub const TREE_DEPTH_MAX: i64 = document::limits::TREE_DEPTH_LEVELS_MAX as i64;

impl Tx {
    pub async fn get_node(&mut self, id: Id) -> Result<Option<StoredNode>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes n WHERE n.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(decode_node).transpose()
    }

    /// Inserts a node at `position` among its parent's children.
    pub async fn insert_node(
        &mut self,
        node: &Node,
        inherits: bool,
        position: Position,
    ) -> Result<()> {
        let parent = node.parent();
        let (parent_kind, parent_id) = parent_columns(&parent);
        let position = self.make_room(parent_id.as_deref(), position).await?;
        let (created_time, created_by, last_edited_time, last_edited_by) = node.times();
        let title = node.title();
        sqlx::query(
            "INSERT INTO nodes (id, kind, parent_kind, parent_id, position, inherits, in_trash, data, title, title_folded, \
             created_time, created_by, last_edited_time, last_edited_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(node.id().to_string())
        .bind(node.kind().name())
        .bind(parent_kind)
        .bind(parent_id)
        .bind(position)
        .bind(inherits as i64)
        .bind(node.in_trash() as i64)
        .bind(node.record()?)
        .bind(title.clone())
        .bind(fold(&title))
        .bind(created_time)
        .bind(created_by.to_string())
        .bind(last_edited_time)
        .bind(last_edited_by.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Finds the position for a new child and shifts later siblings to make room.
    async fn make_room(&mut self, parent_id: Option<&str>, position: Position) -> Result<i64> {
        let parent_clause = if parent_id.is_some() {
            "parent_id = $1"
        } else {
            "parent_id IS NULL"
        };
        match position {
            Position::End => {
                let sql =
                    format!("SELECT COALESCE(MAX(position), 0) FROM nodes WHERE {parent_clause}");
                let mut query = sqlx::query(&sql);
                if let Some(parent) = parent_id {
                    query = query.bind(parent.to_string());
                }
                let max: i64 = query.fetch_one(&mut *self.tx).await?.try_get(0)?;
                Ok(max + 1)
            }
            Position::Start | Position::After(_) => {
                let after = match position {
                    Position::After(after_id) => {
                        let row =
                            sqlx::query("SELECT position, parent_id FROM nodes WHERE id = $1")
                                .bind(after_id.to_string())
                                .fetch_optional(&mut *self.tx)
                                .await?
                                .ok_or_else(|| {
                                    Error::Conflict(format!("block {after_id} does not exist"))
                                })?;
                        let sibling_parent: Option<String> = row.try_get(1)?;
                        if sibling_parent.as_deref() != parent_id {
                            return Err(Error::Conflict(format!(
                                "block {after_id} is not a child of the parent"
                            )));
                        }
                        row.try_get::<i64, _>(0)?
                    }
                    _ => 0,
                };
                let sql = format!(
                    "UPDATE nodes SET position = position + 1 WHERE {parent_clause} AND position > {}",
                    if parent_id.is_some() { "$2" } else { "$1" }
                );
                let mut query = sqlx::query(&sql);
                if let Some(parent) = parent_id {
                    query = query.bind(parent.to_string());
                }
                query.bind(after).execute(&mut *self.tx).await?;
                Ok(after + 1)
            }
        }
    }

    /// Writes a node's content, trash flag and edit stamps. The parent is changed only by
    /// [`Tx::move_node`].
    pub async fn update_node(&mut self, node: &Node) -> Result<()> {
        let (_, _, last_edited_time, last_edited_by) = node.times();
        let title = node.title();
        let result = sqlx::query(
            "UPDATE nodes SET data = $1, title = $2, title_folded = $3, in_trash = $4, last_edited_time = $5, last_edited_by = $6 WHERE id = $7",
        )
        .bind(node.record()?)
        .bind(title.clone())
        .bind(fold(&title))
        .bind(node.in_trash() as i64)
        .bind(last_edited_time)
        .bind(last_edited_by.to_string())
        .bind(node.id().to_string())
        .execute(&mut *self.tx)
        .await?;
        if result.rows_affected() != 1 {
            return Err(Error::Conflict(format!(
                "node {} does not exist",
                node.id()
            )));
        }
        Ok(())
    }

    /// Moves a node (with its subtree) under a new parent, at the end of its children.
    pub async fn move_node(&mut self, node: &Node, position: Position) -> Result<()> {
        let (parent_kind, parent_id) = parent_columns(&node.parent());
        let position = self.make_room(parent_id.as_deref(), position).await?;
        sqlx::query(
            "UPDATE nodes SET parent_kind = $1, parent_id = $2, position = $3 WHERE id = $4",
        )
        .bind(parent_kind)
        .bind(parent_id)
        .bind(position)
        .bind(node.id().to_string())
        .execute(&mut *self.tx)
        .await?;
        self.update_node(node).await
    }

    pub async fn set_inherits(&mut self, id: Id, inherits: bool) -> Result<()> {
        sqlx::query("UPDATE nodes SET inherits = $1 WHERE id = $2")
            .bind(inherits as i64)
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Children of a page or block in order (blocks, sub-pages, inline databases), not in
    /// the trash, starting after `after_position`.
    pub async fn children(
        &mut self,
        parent_id: Id,
        after_position: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredNode>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.parent_id = $1 AND n.kind IN {CHILD_KINDS} AND n.in_trash = 0 AND n.position > $2 \
             ORDER BY n.position LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(parent_id.to_string())
            .bind(after_position.unwrap_or(i64::MIN))
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(decode_node).collect()
    }

    /// Data sources of a database, in creation order.
    pub async fn data_sources_of(&mut self, database_id: Id) -> Result<Vec<DataSource>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.parent_id = $1 AND n.kind = 'data_source' ORDER BY n.position"
        );
        let rows = sqlx::query(&sql)
            .bind(database_id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        let mut result = Vec::new();
        for row in &rows {
            if let Node::DataSource(data_source) = decode_node(row)?.node {
                result.push(data_source);
            }
        }
        Ok(result)
    }

    /// Ids of every node below `id` (not including it), for trash and moves.
    pub async fn descendants(&mut self, id: Id) -> Result<Vec<(Id, NodeKind)>> {
        let sql = format!(
            "WITH RECURSIVE sub(id, kind, depth) AS ( \
               SELECT id, kind, 1 FROM nodes WHERE parent_id = $1 \
               UNION ALL SELECT n.id, n.kind, s.depth + 1 FROM nodes n JOIN sub s ON n.parent_id = s.id WHERE s.depth < {TREE_DEPTH_MAX}) \
             SELECT id, kind FROM sub"
        );
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.try_get::<String, _>(0)?)?,
                    NodeKind::parse(&row.try_get::<String, _>(1)?)?,
                ))
            })
            .collect()
    }

    /// Levels below `id` in its subtree: 0 for a node without children. Moves use it to keep
    /// the whole subtree within the depth limit.
    pub async fn subtree_height(&mut self, id: Id) -> Result<usize> {
        let sql = format!(
            "WITH RECURSIVE sub(id, depth) AS ( \
               SELECT id, 1 FROM nodes WHERE parent_id = $1 \
               UNION ALL SELECT n.id, s.depth + 1 FROM nodes n JOIN sub s ON n.parent_id = s.id WHERE s.depth <= {TREE_DEPTH_MAX}) \
             SELECT CAST(COALESCE(MAX(depth), 0) AS BIGINT) FROM sub"
        );
        let height: i64 = sqlx::query_scalar(&sql)
            .bind(id.to_string())
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(usize::try_from(height).unwrap_or(0))
    }

    /// The permission chain of a node: the node, its parent, ... up to a top-level node,
    /// each with its own grants. The workspace root is not included.
    pub async fn chain(&mut self, id: Id) -> Result<Chain> {
        let sql = format!(
            "WITH RECURSIVE chain(id, parent_id, inherits, kind, in_trash, depth) AS ( \
               SELECT id, parent_id, inherits, kind, in_trash, 0 FROM nodes WHERE id = $1 \
               UNION ALL SELECT n.id, n.parent_id, n.inherits, n.kind, n.in_trash, c.depth + 1 FROM nodes n JOIN chain c ON n.id = c.parent_id WHERE c.depth < {TREE_DEPTH_MAX}) \
             SELECT c.id, c.inherits, c.kind, c.in_trash, g.grantee_kind, g.grantee_id, g.level FROM chain c LEFT JOIN grants g ON g.node_id = c.id ORDER BY c.depth"
        );
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        let mut chain = Chain::default();
        for row in &rows {
            let node_id = parse_id(&row.try_get::<String, _>(0)?)?;
            if chain.nodes.last().map(|n| n.id) != Some(node_id) {
                chain.nodes.push(access::Node {
                    id: node_id,
                    inherits: row.try_get::<i64, _>(1)? != 0,
                    grants: Vec::new(),
                });
                chain
                    .kinds
                    .push(NodeKind::parse(&row.try_get::<String, _>(2)?)?);
                let trashed = row.try_get::<i64, _>(3)? != 0;
                chain.in_trash.push(trashed);
                if chain.nodes.len() > 1 && trashed {
                    chain.trashed_ancestor = true;
                }
            }
            let kind: Option<String> = row.try_get(4)?;
            if let Some(kind) = kind {
                let grantee_id: String = row.try_get(5)?;
                let level: String = row.try_get(6)?;
                let grant = decode_grant(&kind, &grantee_id, &level)?;
                if let Some(last) = chain.nodes.last_mut() {
                    last.grants.push(grant);
                }
            }
        }
        Ok(chain)
    }

    pub async fn set_grant(&mut self, node_id: Id, grant: Grant) -> Result<()> {
        let (kind, grantee_id) = grantee_columns(&grant.grantee);
        sqlx::query(
            "DELETE FROM grants WHERE node_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
        )
        .bind(node_id.to_string())
        .bind(kind)
        .bind(grantee_id.clone())
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "INSERT INTO grants (node_id, grantee_kind, grantee_id, level) VALUES ($1, $2, $3, $4)",
        )
        .bind(node_id.to_string())
        .bind(kind)
        .bind(grantee_id)
        .bind(grant.level.name())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn remove_grant(&mut self, node_id: Id, grantee: Grantee) -> Result<bool> {
        let (kind, grantee_id) = grantee_columns(&grantee);
        let result = sqlx::query(
            "DELETE FROM grants WHERE node_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
        )
        .bind(node_id.to_string())
        .bind(kind)
        .bind(grantee_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn grants(&mut self, node_id: Id) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT grantee_kind, grantee_id, level FROM grants WHERE node_id = $1 ORDER BY grantee_kind, grantee_id")
            .bind(node_id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                decode_grant(
                    &row.try_get::<String, _>(0)?,
                    &row.try_get::<String, _>(1)?,
                    &row.try_get::<String, _>(2)?,
                )
            })
            .collect()
    }

    /// Pages and data sources whose title contains `query` (case-insensitive), newest edit
    /// first, strictly after the cursor `(last_edited_time, id)`. The caller trims by access.
    pub async fn search_titles(
        &mut self,
        query: &str,
        kinds: &[NodeKind],
        ascending: bool,
        after: Option<(i64, Id)>,
        limit: i64,
    ) -> Result<Vec<StoredNode>> {
        let mut binds = Binds::default();
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.kind IN ({kinds}) AND n.in_trash = 0"
        );
        if !query.is_empty() {
            let needle = binds.text(fold(query));
            sql += &match self.dialect {
                Dialect::Sqlite => format!(" AND instr(n.title_folded, {needle}) > 0"),
                Dialect::Postgres => format!(" AND strpos(n.title_folded, {needle}) > 0"),
            };
        }
        let (compare, order) = if ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some((time, id)) = after {
            let time = binds.integer(time);
            let id_a = binds.text(id.to_string());
            sql += &format!(
                " AND (n.last_edited_time {compare} {time} OR (n.last_edited_time = {time} AND n.id {compare} {id_a}))"
            );
        }
        let limit = binds.integer(limit);
        sql += &format!(" ORDER BY n.last_edited_time {order}, n.id {order} LIMIT {limit}");
        let rows = binds
            .apply(sqlx::query(&sql))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(decode_node).collect()
    }

    pub async fn insert_comment(&mut self, comment: &Comment) -> Result<()> {
        sqlx::query(
            "INSERT INTO comments (id, page_id, block_id, discussion_id, rich_text, created_time, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(comment.id.to_string())
        .bind(comment.page_id.to_string())
        .bind(comment.block_id.map(|id| id.to_string()))
        .bind(comment.discussion_id.to_string())
        .bind(records::encode(&comment.rich_text)?)
        .bind(comment.created_time)
        .bind(comment.created_by.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_comment_discussion(&mut self, discussion_id: Id) -> Result<Option<Comment>> {
        let row = sqlx::query(
            "SELECT id, page_id, block_id, discussion_id, rich_text, created_time, created_by FROM comments WHERE discussion_id = $1 ORDER BY created_time, id LIMIT 1",
        )
        .bind(discussion_id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_comment).transpose()
    }

    /// Comments on a page (its page-level discussions) or on a block, oldest first, after
    /// the cursor `(created_time, id)`.
    pub async fn comments(
        &mut self,
        block_or_page: Id,
        after: Option<(i64, Id)>,
        limit: i64,
    ) -> Result<Vec<Comment>> {
        let mut binds = Binds::default();
        let target = binds.text(block_or_page.to_string());
        let mut sql = format!(
            "SELECT id, page_id, block_id, discussion_id, rich_text, created_time, created_by FROM comments \
             WHERE ((block_id IS NULL AND page_id = {target}) OR block_id = {target})"
        );
        if let Some((time, id)) = after {
            let time = binds.integer(time);
            let id = binds.text(id.to_string());
            sql +=
                &format!(" AND (created_time > {time} OR (created_time = {time} AND id > {id}))");
        }
        let limit = binds.integer(limit);
        sql += &format!(" ORDER BY created_time, id LIMIT {limit}");
        let rows = binds
            .apply(sqlx::query(&sql))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(decode_comment).collect()
    }
}

fn decode_comment(row: &AnyRow) -> Result<Comment> {
    let block_id: Option<String> = row.try_get(2)?;
    Ok(Comment {
        id: parse_id(&row.try_get::<String, _>(0)?)?,
        page_id: parse_id(&row.try_get::<String, _>(1)?)?,
        block_id: block_id.as_deref().map(parse_id).transpose()?,
        discussion_id: parse_id(&row.try_get::<String, _>(3)?)?,
        rich_text: records::decode(&row.try_get::<String, _>(4)?, "comment")?,
        created_time: row.try_get(5)?,
        created_by: parse_id(&row.try_get::<String, _>(6)?)?,
    })
}
