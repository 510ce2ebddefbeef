//! A mirror of the tree's access facts (parent links, `inherits`, grants, trash), so that the
//! set of objects an actor may read can be computed for every query without a database round
//! trip per object. Decisions are made by `access::level` on chains built from the mirror, the
//! same function the workspace uses on chains read from the store.
//!
//! The mirror is only a *planner's* view and may trail the store by one indexer pass; the
//! workspace re-checks every returned object against the store before answering, so a page
//! that became unreadable is never returned, even before the mirror hears of it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use access::{Actor, Level};
use document::Id;

/// Longest parent chain followed; deeper trees (or a cycle from a torn update) stop here and the
/// object is treated as unreadable.
pub const CHAIN_DEPTH_MAX: usize = document::limits::TREE_DEPTH_LEVELS_MAX;

/// Allowed-object sets kept per actor until the mirror changes.
pub const CACHED_ACTORS_MAX: usize = 256;

/// One node's access facts.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorNode {
    pub id: Id,
    pub parent_id: Option<Id>,
    pub inherits: bool,
    pub in_trash: bool,
    pub grants: Vec<access::Grant>,
}

#[derive(Debug, Default)]
pub struct AccessMirror {
    nodes: HashMap<Id, MirrorNode>,
    /// Bumped on every change; cached allowed sets from older generations are dropped.
    generation: u64,
    cache: HashMap<String, (u64, Arc<HashSet<Id>>)>,
}

impl AccessMirror {
    pub fn new(nodes: impl IntoIterator<Item = MirrorNode>) -> Self {
        let mut mirror = AccessMirror::default();
        for node in nodes {
            mirror.nodes.insert(node.id, node);
        }
        mirror
    }

    /// Replaces the facts of the given nodes (a chain as just read from the store).
    pub fn upsert(&mut self, nodes: impl IntoIterator<Item = MirrorNode>) {
        for node in nodes {
            self.nodes.insert(node.id, node);
        }
        self.changed();
    }

    /// Forgets a node that no longer exists.
    pub fn remove(&mut self, id: Id) {
        if self.nodes.remove(&id).is_some() {
            self.changed();
        }
    }

    fn changed(&mut self) {
        self.generation += 1;
        self.cache.clear();
    }

    /// The node's chain (node first) for `access::level`, with the workspace root appended, and
    /// whether the node or an ancestor is in the trash. `None` when the chain is incomplete.
    pub fn chain(&self, id: Id, root: &access::Node) -> Option<(Vec<access::Node>, bool)> {
        let mut chain = Vec::new();
        let mut trashed = false;
        let mut next = Some(id);
        while let Some(current) = next {
            if chain.len() == CHAIN_DEPTH_MAX {
                return None;
            }
            let node = self.nodes.get(&current)?;
            trashed |= node.in_trash;
            chain.push(access::Node {
                id: node.id,
                inherits: node.inherits,
                grants: node.grants.clone(),
            });
            next = node.parent_id;
        }
        chain.push(root.clone());
        Some((chain, trashed))
    }

    /// Whether the actor may read the object now, by the mirror; trashed objects (or objects
    /// under a trashed page) are left out of search.
    pub fn readable(&self, actor: &Actor, root: &access::Node, id: Id) -> bool {
        match self.chain(id, root) {
            Some((chain, trashed)) => !trashed && access::level(actor, &chain) >= Level::CanView,
            None => false,
        }
    }

    /// Every node of the mirror the actor may read, cached per actor and root until the mirror
    /// changes. The set depends on the mirror alone (not on which objects are indexed yet), so a
    /// cached set never goes stale while the index catches up.
    pub fn allowed(&mut self, actor: &Actor, root: &access::Node) -> Arc<HashSet<Id>> {
        let key = format!("{actor:?}|{root:?}");
        if let Some((generation, set)) = self.cache.get(&key)
            && *generation == self.generation
        {
            return set.clone();
        }
        let set: Arc<HashSet<Id>> = Arc::new(
            self.nodes
                .keys()
                .filter(|id| self.readable(actor, root, **id))
                .copied()
                .collect(),
        );
        if self.cache.len() >= CACHED_ACTORS_MAX {
            self.cache.clear();
        }
        self.cache.insert(key, (self.generation, set.clone()));
        set
    }
}
