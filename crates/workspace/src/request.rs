//! One request: its transaction, its actor, its access decisions and their audit trail.

use std::collections::HashMap;

use access::{Actor, Decision, Level, Operation};
use document::Id;
use storage_sql::{AuditEntry, Chain, Change, NodeKind, StoredNode, Tx};

use crate::{Error, Result, Workspace};

/// One page of a paginated list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub next_cursor: Option<String>,
}

pub(crate) struct Request<'a> {
    pub actor: &'a Actor,
    pub tx: Tx,
    pub now: i64,
    /// Whether `tx` is a write transaction. A read transaction never writes (on SQLite a
    /// reader that writes is upgraded, and fails once another writer committed), so its audit
    /// trail goes to a write transaction of its own.
    writable: bool,
    workspace: &'a Workspace,
    root: access::Node,
    audit: Vec<AuditEntry>,
    levels: HashMap<Id, Level>,
    /// Tree levels of nodes this request looked up or inserted (see [`Request::depth`]).
    depths: HashMap<Id, usize>,
}

impl Workspace {
    pub(crate) async fn begin<'a>(&'a self, actor: &'a Actor, write: bool) -> Result<Request<'a>> {
        let mut tx = if write {
            self.store.write().await?
        } else {
            self.store.read().await?
        };
        let record = tx
            .workspace()
            .await?
            .ok_or_else(|| Error::Internal("workspace record missing".into()))?;
        Ok(Request {
            actor,
            tx,
            now: crate::clock::now_ms(),
            writable: write,
            workspace: self,
            root: access::workspace_root(record.id, record.members_level),
            audit: Vec::new(),
            levels: HashMap::new(),
            depths: HashMap::new(),
        })
    }
}

impl Workspace {
    /// Whether `actor` may read a node (missing nodes are unreadable). Not audited: the answer
    /// goes to the service, not to the actor.
    pub async fn can_read(&self, actor: &Actor, id: Id) -> Result<bool> {
        let mut r = self.begin(actor, false).await?;
        let result = r.can_read(id).await;
        r.finish(result).await
    }

    /// For each `(actor, node)`, whether the actor may read the node (missing nodes are
    /// unreadable), decided in one read transaction that loads each node's chain once. Not
    /// audited, like [`Workspace::can_read`]. The integration worker decides this for every
    /// change run it starts at once.
    pub async fn readable_by(&self, checks: &[(&Actor, Id)]) -> Result<Vec<bool>> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.read().await?;
        let result = async {
            let record = tx
                .workspace()
                .await?
                .ok_or_else(|| Error::Internal("workspace record missing".into()))?;
            let root = access::workspace_root(record.id, record.members_level);
            let mut chains: HashMap<Id, Option<Vec<access::Node>>> = HashMap::new();
            let mut readable = Vec::with_capacity(checks.len());
            for (actor, id) in checks {
                if !chains.contains_key(id) {
                    let chain = tx.chain(*id).await?;
                    let full = (!chain.nodes.is_empty()).then(|| chain.with_root(&root));
                    chains.insert(*id, full);
                }
                readable.push(match &chains[id] {
                    Some(chain) => access::level(actor, chain) >= Level::CanView,
                    None => false,
                });
            }
            Ok::<_, Error>(readable)
        }
        .await;
        tx.commit().await?;
        result
    }
}

impl Request<'_> {
    /// Commits on success and rolls back on failure; either way, writes the audit trail: in
    /// the request's transaction when it is a write that succeeded, otherwise in its own (so a
    /// failed request's denials are kept, and a read never writes).
    pub async fn finish<T>(self, result: Result<T>) -> Result<T> {
        let Request {
            mut tx,
            audit,
            workspace,
            writable,
            ..
        } = self;
        let result = match result {
            Ok(value) if writable => {
                if !audit.is_empty() {
                    tx.append_audit(&audit).await?;
                }
                tx.commit().await?;
                return Ok(value);
            }
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                tx.rollback().await?;
                Err(error)
            }
        };
        if !audit.is_empty() {
            let mut audit_tx = workspace.store.write().await?;
            audit_tx.append_audit(&audit).await?;
            audit_tx.commit().await?;
        }
        result
    }

    /// The workspace root node (members' level) for access decisions.
    pub fn root(&self) -> &access::Node {
        &self.root
    }

    fn full_chain(&self, chain: &Chain) -> Vec<access::Node> {
        chain.with_root(&self.root)
    }

    /// A node's level in the tree (a top-level node is 1), cached per request; more than
    /// the limit for a tree already deeper than it.
    pub async fn depth(&mut self, id: Id) -> Result<usize> {
        if let Some(depth) = self.depths.get(&id) {
            return Ok(*depth);
        }
        let chain = self.tx.chain(id).await?;
        let depth = chain.nodes.len();
        self.depths.insert(id, depth);
        Ok(depth)
    }

    /// Refuses a write that would put a node `levels` below `parent` deeper than
    /// [`document::limits::TREE_DEPTH_LEVELS_MAX`]; `None` is the workspace's top level.
    pub async fn check_depth(&mut self, parent: Option<Id>, levels: usize) -> Result<()> {
        let parent_depth = match parent {
            Some(parent) => self.depth(parent).await?,
            None => 0,
        };
        let max = document::limits::TREE_DEPTH_LEVELS_MAX;
        if parent_depth + levels > max {
            return Err(Error::validation(
                "parent",
                format!("pages and blocks nest at most {max} levels deep"),
            ));
        }
        Ok(())
    }

    /// Inserts a node under its parent, refusing it past the depth limit (every insert goes
    /// through here, so no tree grows deeper than the permission walk reads).
    pub async fn insert_node(
        &mut self,
        node: &storage_sql::Node,
        inherits: bool,
        position: storage_sql::Position,
    ) -> Result<()> {
        let parent = node.parent().node_id();
        self.check_depth(parent, 1).await?;
        self.tx.insert_node(node, inherits, position).await?;
        let depth = match parent {
            Some(parent) => self.depths[&parent] + 1,
            None => 1,
        };
        self.depths.insert(node.id(), depth);
        Ok(())
    }

    /// The actor's level on a node; `None` when the node does not exist.
    pub async fn level(&mut self, id: Id) -> Result<Option<(Chain, Level)>> {
        let chain = self.tx.chain(id).await?;
        if chain.nodes.is_empty() {
            return Ok(None);
        }
        let level = access::level(self.actor, &self.full_chain(&chain));
        self.levels.insert(id, level);
        Ok(Some((chain, level)))
    }

    /// Whether the actor may read a node (cached per request). Used to trim relations and
    /// mentions; not audited, since nothing about the node is returned either way.
    pub async fn can_read(&mut self, id: Id) -> Result<bool> {
        if let Some(level) = self.levels.get(&id) {
            return Ok(*level >= Level::CanView);
        }
        // Trash is not a permission: a page under a trashed page stays readable (search
        // leaves such pages out on its own). `level` caches what it computes; a missing node
        // is cached as unreadable.
        match self.level(id).await? {
            Some((_, level)) => Ok(level >= Level::CanView),
            None => {
                self.levels.insert(id, Level::None);
                Ok(false)
            }
        }
    }

    /// Loads a node and checks an operation on it. Unreadable and missing nodes are the
    /// same `object_not_found`. Decisions for integrations are audited.
    pub async fn require(
        &mut self,
        id: Id,
        operation: Operation,
        kind: &'static str,
    ) -> Result<(StoredNode, Chain)> {
        let node = self.tx.get_node(id).await?;
        let found = match (&node, self.level(id).await?) {
            (Some(node), Some((chain, level))) => Some((node.clone(), chain, level)),
            _ => None,
        };
        let Some((node, chain, level)) = found else {
            self.audit_decision(operation, id, false, "not found");
            return Err(Error::not_found(kind, id));
        };
        match access::decide_with_level(self.actor, operation, level) {
            Decision::Allowed => {
                self.audit_decision(operation, id, true, level.name());
                Ok((node, chain))
            }
            Decision::Hidden => {
                self.audit_decision(operation, id, false, "no access");
                Err(Error::not_found(kind, id))
            }
            Decision::Forbidden { capability } => {
                let message = match capability {
                    Some(capability) => format!(
                        "Insufficient permissions for this endpoint: the integration lacks the {capability} capability."
                    ),
                    None => format!(
                        "Insufficient permissions: {} access does not allow {}.",
                        level.name(),
                        operation.name()
                    ),
                };
                self.audit_decision(operation, id, false, capability.unwrap_or(level.name()));
                Err(Error::Restricted(message))
            }
        }
    }

    pub fn audit_decision(
        &mut self,
        operation: Operation,
        object_id: Id,
        allowed: bool,
        reason: &str,
    ) {
        let Some(integration) = self.actor.integration() else {
            return;
        };
        self.audit.push(AuditEntry {
            time: self.now,
            integration_id: Some(integration.id),
            user_id: self.actor.user().map(|u| u.id),
            operation: operation.name().to_string(),
            object_id,
            allowed,
            reason: reason.to_string(),
        });
    }

    /// Appends a change-log event in this request's transaction.
    pub async fn log(
        &mut self,
        kind: &str,
        object_kind: NodeKind,
        object_id: Id,
        parent_id: Option<Id>,
        fields: Vec<String>,
    ) -> Result<()> {
        self.append_change(kind, object_kind.name(), object_id, parent_id, fields)
            .await
    }

    /// Comments are not tree nodes, so they have their own entry point.
    pub async fn log_comment(&mut self, comment_id: Id, page_id: Id) -> Result<()> {
        self.append_change(
            "comment.created",
            "comment",
            comment_id,
            Some(page_id),
            Vec::new(),
        )
        .await
    }

    async fn append_change(
        &mut self,
        kind: &str,
        object_kind: &str,
        object_id: Id,
        parent_id: Option<Id>,
        fields: Vec<String>,
    ) -> Result<()> {
        let change = Change {
            kind: kind.to_string(),
            object_kind: object_kind.to_string(),
            object_id,
            parent_id,
            actor_id: self.actor.author_id(),
            fields,
        };
        self.tx.append_change(&change, self.now).await?;
        Ok(())
    }
}

pub(crate) fn page_size(requested: Option<usize>) -> Result<i64> {
    match requested {
        None => Ok(document::limits::PAGE_SIZE_DEFAULT as i64),
        Some(0) => Err(Error::validation(
            "page_size",
            "should be a number between 1 and 100, instead was 0",
        )),
        Some(size) if size > document::limits::PAGE_SIZE_MAX => Err(Error::validation(
            "page_size",
            format!("should be a number between 1 and 100, instead was {size}"),
        )),
        Some(size) => Ok(size as i64),
    }
}

pub(crate) fn invalid_cursor() -> Error {
    Error::validation("start_cursor", "is not a valid cursor for this list")
}
