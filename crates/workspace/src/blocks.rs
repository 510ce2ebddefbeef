//! Blocks: retrieve, update, delete, list children, append children.

use access::Operation;
use document::block::NewBlock;
use document::markdown::BlockTree;
use document::{Block, BlockKind, Id, Parent};
use storage_sql::{Node, NodeKind, Position, StoredNode};

use crate::request::{Page, Request, invalid_cursor, page_size};
use crate::{Error, Result, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendPosition {
    Start,
    End,
    After(Id),
}

/// A block as the caller sees it. Sub-pages and databases appear as `child_page` and
/// `child_database` blocks carrying their title.
#[derive(Debug, Clone)]
pub struct BlockView {
    pub block: Block,
    pub linked_title: Option<String>,
}

/// Blocks rendered into one page's Markdown, at most.
pub const MARKDOWN_BLOCKS_MAX: usize = 10_000;
/// Depth of nested blocks rendered into Markdown.
pub const MARKDOWN_DEPTH_MAX: usize = 16;

impl Workspace {
    pub async fn retrieve_block(&self, actor: &access::Actor, id: Id) -> Result<BlockView> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let (node, _) = r.require(id, Operation::Read, "block").await?;
            r.block_view(node).await
        }
        .await;
        r.finish(result).await
    }

    /// Updates a block's content with `edit`, which receives the current content.
    pub async fn update_block(
        &self,
        actor: &access::Actor,
        id: Id,
        edit: impl FnOnce(&BlockKind) -> std::result::Result<Option<BlockKind>, document::Error>,
        in_trash: Option<bool>,
    ) -> Result<BlockView> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (node, chain) = r.require(id, Operation::Update, "block").await?;
            let Node::Block(mut block) = node.node.clone() else {
                return Err(Error::validation("type", "pages and databases are updated through their own endpoints"));
            };
            if block.in_trash && in_trash != Some(false) {
                return Err(Error::validation("in_trash", "Can't edit block that is archived. You must unarchive the block before editing."));
            }
            if let Some(kind) = edit(&block.kind)? {
                kind.validate()?;
                block.kind = kind;
            }
            if let Some(in_trash) = in_trash {
                block.in_trash = in_trash;
            }
            block.last_edited_time = r.now;
            block.last_edited_by = r.actor.author_id();
            r.tx.update_node(&Node::Block(block.clone())).await?;
            r.log("block.updated", NodeKind::Block, id, chain.nearest_page(), Vec::new()).await?;
            r.block_view(StoredNode { node: Node::Block(block), ..node }).await
        }
        .await;
        r.finish(result).await
    }

    /// Moves a block (or a sub-page, through its block) to the trash.
    pub async fn delete_block(&self, actor: &access::Actor, id: Id) -> Result<BlockView> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (mut node, chain) = r.require(id, Operation::Update, "block").await?;
            let now = r.now;
            let author = r.actor.author_id();
            let kind = match &mut node.node {
                Node::Block(block) => {
                    block.in_trash = true;
                    block.last_edited_time = now;
                    block.last_edited_by = author;
                    "block.deleted"
                }
                Node::Page(page) => {
                    page.in_trash = true;
                    page.last_edited_time = now;
                    page.last_edited_by = author;
                    "page.deleted"
                }
                Node::Database(database) => {
                    database.in_trash = true;
                    database.last_edited_time = now;
                    database.last_edited_by = author;
                    "database.deleted"
                }
                Node::DataSource(_) => return Err(Error::not_found("block", id)),
            };
            r.tx.update_node(&node.node).await?;
            let parent = if kind == "block.deleted" {
                chain.nearest_page()
            } else {
                node.node.parent().node_id()
            };
            r.log(kind, node.node.kind(), id, parent, Vec::new())
                .await?;
            r.block_view(node).await
        }
        .await;
        r.finish(result).await
    }

    pub async fn list_children(
        &self,
        actor: &access::Actor,
        id: Id,
        start_cursor: Option<Id>,
        size: Option<usize>,
    ) -> Result<Page<BlockView>> {
        let limit = page_size(size)?;
        let mut r = self.begin(actor, false).await?;
        let result = async {
            r.require(id, Operation::Read, "block").await?;
            let after = match start_cursor {
                None => None,
                Some(cursor) => match r.tx.get_node(cursor).await? {
                    Some(node) if node.node.parent().node_id() == Some(id) => {
                        Some(node.position - 1)
                    }
                    _ => return Err(invalid_cursor()),
                },
            };
            let mut results = Vec::new();
            let mut position = after;
            // Hidden sub-pages are skipped, so read until the page is full.
            loop {
                let batch = r.tx.children(id, position, limit + 1).await?;
                let exhausted = batch.len() as i64 <= limit;
                for child in batch {
                    position = Some(child.position);
                    if matches!(child.node, Node::Page(_) | Node::Database(_))
                        && !r.can_read(child.node.id()).await?
                    {
                        continue;
                    }
                    if results.len() as i64 == limit {
                        return Ok(Page {
                            results,
                            next_cursor: Some(child.node.id().to_string()),
                        });
                    }
                    results.push(r.block_view(child).await?);
                }
                if exhausted {
                    return Ok(Page {
                        results,
                        next_cursor: None,
                    });
                }
            }
        }
        .await;
        r.finish(result).await
    }

    /// Appends blocks to a page or block; returns the new top-level blocks.
    pub async fn append_children(
        &self,
        actor: &access::Actor,
        id: Id,
        blocks: Vec<NewBlock>,
        position: AppendPosition,
    ) -> Result<Vec<BlockView>> {
        document::block::validate_new_blocks(&blocks, "children")?;
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let ids = r.append_children(id, blocks, position).await?;
            let mut views = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(node) = r.tx.get_node(id).await? {
                    views.push(r.block_view(node).await?);
                }
            }
            Ok(views)
        }
        .await;
        r.finish(result).await
    }
}

impl Request<'_> {
    /// Appends blocks to a page or block the actor may insert into; returns the new top-level
    /// blocks' ids.
    pub async fn append_children(
        &mut self,
        id: Id,
        blocks: Vec<NewBlock>,
        position: AppendPosition,
    ) -> Result<Vec<Id>> {
        let (node, _) = self.require(id, Operation::Insert, "block").await?;
        match &node.node {
            Node::Page(page) if page.in_trash => {
                return Err(Error::validation(
                    "block_id",
                    "Can't edit page that is archived.",
                ));
            }
            Node::Page(_) => {}
            Node::Block(block) if block.in_trash => {
                return Err(Error::validation(
                    "block_id",
                    "Can't edit block that is archived.",
                ));
            }
            Node::Block(block) if !block.kind.accepts_children() => {
                return Err(Error::validation(
                    "block_id",
                    format!(
                        "Block type {} does not support children.",
                        block.kind.type_name()
                    ),
                ));
            }
            Node::Block(_) => {}
            _ => {
                return Err(Error::validation(
                    "block_id",
                    "blocks can be appended only to pages and blocks",
                ));
            }
        }
        if let AppendPosition::After(after) = position {
            match self.tx.get_node(after).await? {
                Some(sibling) if sibling.node.parent().node_id() == Some(id) => {}
                _ => {
                    return Err(Error::validation(
                        "position.after_block.id",
                        format!("{after} is not a child of {id}"),
                    ));
                }
            }
        }
        self.append_blocks(id, blocks, position).await
    }

    /// Whether a node has children the caller can see: content blocks always count, sub-pages
    /// and databases only when readable, so `has_children` never reveals a hidden page.
    pub async fn has_visible_children(&mut self, node: &StoredNode) -> Result<bool> {
        if node.has_block_children {
            return Ok(true);
        }
        if !node.has_page_children {
            return Ok(false);
        }
        let parent = node.node.id();
        let mut position = None;
        loop {
            let batch = self.tx.children(parent, position, 100).await?;
            if batch.is_empty() {
                return Ok(false);
            }
            for child in batch {
                position = Some(child.position);
                if self.can_read(child.node.id()).await? {
                    return Ok(true);
                }
            }
        }
    }

    /// Hides the parent of an object whose parent the caller can't read: it is shown as a
    /// top-level object, so the parent's id never appears.
    pub async fn trim_parent(&mut self, parent: &mut Parent) -> Result<()> {
        if let Some(parent_id) = parent.node_id()
            && !self.can_read(parent_id).await?
        {
            *parent = Parent::Workspace;
        }
        Ok(())
    }

    pub async fn block_view(&mut self, node: StoredNode) -> Result<BlockView> {
        let has_children = self.has_visible_children(&node).await?;
        let mut view = match node.node {
            Node::Block(block) => BlockView {
                block,
                linked_title: None,
            },
            Node::Page(page) => {
                let title = page.title();
                BlockView {
                    block: Block {
                        id: page.id,
                        parent: page.parent,
                        kind: BlockKind::ChildPage,
                        has_children,
                        in_trash: page.in_trash,
                        created_time: page.created_time,
                        created_by: page.created_by,
                        last_edited_time: page.last_edited_time,
                        last_edited_by: page.last_edited_by,
                    },
                    linked_title: Some(title),
                }
            }
            Node::Database(database) => BlockView {
                block: Block {
                    id: database.id,
                    parent: database.parent,
                    kind: BlockKind::ChildDatabase,
                    has_children: false,
                    in_trash: database.in_trash,
                    created_time: database.created_time,
                    created_by: database.created_by,
                    last_edited_time: database.last_edited_time,
                    last_edited_by: database.last_edited_by,
                },
                linked_title: Some(document::data_source::title_plain(&database.title)),
            },
            Node::DataSource(data_source) => return Err(Error::not_found("block", data_source.id)),
        };
        view.block.has_children = has_children;
        if matches!(
            view.block.kind,
            BlockKind::ChildPage | BlockKind::ChildDatabase
        ) {
            self.trim_parent(&mut view.block.parent).await?;
        }
        for runs in view.block.kind.rich_texts_mut() {
            self.trim_rich_text(runs).await?;
        }
        Ok(view)
    }

    /// Inserts blocks (recursively) under a page or block. Returns the top-level ids.
    pub async fn append_blocks(
        &mut self,
        parent_id: Id,
        blocks: Vec<NewBlock>,
        position: AppendPosition,
    ) -> Result<Vec<Id>> {
        let parent_node = self
            .tx
            .get_node(parent_id)
            .await?
            .ok_or_else(|| Error::not_found("block", parent_id))?;
        let parent = match parent_node.node {
            Node::Page(_) => Parent::Page(parent_id),
            _ => Parent::Block(parent_id),
        };
        let page_id = self.tx.chain(parent_id).await?.nearest_page();
        let author = self.actor.author_id();
        let mut ids = Vec::with_capacity(blocks.len());
        let mut position = match position {
            AppendPosition::Start => Position::Start,
            AppendPosition::End => Position::End,
            AppendPosition::After(id) => Position::After(id),
        };
        // Depth-first with an explicit stack, so deep trees cannot overflow the call stack.
        let mut stack: Vec<(Parent, Vec<NewBlock>, bool)> = vec![(parent, blocks, true)];
        while let Some((parent, blocks, top_level)) = stack.pop() {
            let mut local_position = if top_level { position } else { Position::End };
            for new_block in blocks {
                let block = Block {
                    id: Id::new(),
                    parent,
                    kind: new_block.kind,
                    has_children: !new_block.children.is_empty(),
                    in_trash: false,
                    created_time: self.now,
                    created_by: author,
                    last_edited_time: self.now,
                    last_edited_by: author,
                };
                self.insert_node(&Node::Block(block.clone()), true, local_position)
                    .await?;
                if let Position::After(_) | Position::Start = local_position {
                    local_position = Position::After(block.id);
                }
                if top_level {
                    ids.push(block.id);
                    position = local_position;
                    self.log(
                        "block.created",
                        NodeKind::Block,
                        block.id,
                        page_id,
                        Vec::new(),
                    )
                    .await?;
                }
                if !new_block.children.is_empty() {
                    stack.push((Parent::Block(block.id), new_block.children, false));
                }
            }
        }
        Ok(ids)
    }

    /// Moves the content blocks of a page to the trash (sub-pages and databases stay).
    /// Returns how many blocks were trashed.
    pub async fn trash_content_blocks(&mut self, page_id: Id) -> Result<usize> {
        let mut position = None;
        let mut trashed = 0;
        loop {
            let batch = self.tx.children(page_id, position, 100).await?;
            if batch.is_empty() {
                return Ok(trashed);
            }
            for child in batch {
                position = Some(child.position);
                if let Node::Block(mut block) = child.node {
                    block.in_trash = true;
                    block.last_edited_time = self.now;
                    block.last_edited_by = self.actor.author_id();
                    self.tx.update_node(&Node::Block(block)).await?;
                    trashed += 1;
                }
            }
        }
    }

    /// The readable block tree under a node, for Markdown, reading at most `budget` blocks.
    pub async fn block_tree(
        &mut self,
        id: Id,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Vec<BlockTree>> {
        let mut trees = Vec::new();
        let mut position = None;
        loop {
            let batch = self.tx.children(id, position, 100).await?;
            if batch.is_empty() {
                return Ok(trees);
            }
            for child in batch {
                position = Some(child.position);
                if *budget == 0 {
                    return Ok(trees);
                }
                *budget -= 1;
                let child_id = child.node.id();
                // Unreadable sub-pages below are rendered as nothing, so any child counts here.
                let has_children = child.has_any_children();
                match child.node {
                    Node::Block(block) => {
                        let mut kind = block.kind;
                        for runs in kind.rich_texts_mut() {
                            self.trim_rich_text(runs).await?;
                        }
                        let children = if has_children && depth < MARKDOWN_DEPTH_MAX {
                            Box::pin(self.block_tree(child_id, depth + 1, budget)).await?
                        } else {
                            Vec::new()
                        };
                        trees.push(BlockTree {
                            kind,
                            children,
                            linked: None,
                        });
                    }
                    Node::Page(page) => {
                        let linked = if self.can_read(page.id).await? {
                            Some((page.id, page.title()))
                        } else {
                            None
                        };
                        trees.push(BlockTree {
                            kind: BlockKind::ChildPage,
                            children: Vec::new(),
                            linked,
                        });
                    }
                    Node::Database(database) => {
                        let linked = if self.can_read(database.id).await? {
                            Some((
                                database.id,
                                document::data_source::title_plain(&database.title),
                            ))
                        } else {
                            None
                        };
                        trees.push(BlockTree {
                            kind: BlockKind::ChildDatabase,
                            children: Vec::new(),
                            linked,
                        });
                    }
                    Node::DataSource(_) => {}
                }
            }
        }
    }
}
