//! The permission model. Every read, write, list, query and search decides access here and
//! nowhere else.
//!
//! The workspace is a tree: the workspace root, top-level pages and databases, their
//! sub-pages, data sources, rows. Each node may carry [`Grant`]s and may stop inheriting
//! from its parent. The store hands this module a node's *chain* (the node, its parent, ...,
//! up to the workspace root) and the module computes the caller's [`Level`] on the node.
//!
//! Rules:
//! - Walking up the chain, the *nearest* grant for each grantee counts (so a sub-page can
//!   lower or raise what it inherits); the walk stops after a node that does not inherit.
//! - An actor's level is the highest level among the grantees that stand for it: the user,
//!   each of its groups, and — for members only — "workspace members".
//! - Guests never match "workspace members": they see only what is shared with them.
//! - An integration's bot matches only grants to that integration, and its operations are
//!   further limited by the capabilities the integration was given.
//! - An integration acting for a user (an agent, an integration run) gets the *minimum* of
//!   the user's level and the integration's level, and the integration's capabilities.

use document::Id;

/// Access levels, ordered: a higher level includes every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    None,
    CanView,
    CanComment,
    CanEdit,
    FullAccess,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::None,
        Level::CanView,
        Level::CanComment,
        Level::CanEdit,
        Level::FullAccess,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Level::None => "no_access",
            Level::CanView => "can_view",
            Level::CanComment => "can_comment",
            Level::CanEdit => "can_edit",
            Level::FullAccess => "full_access",
        }
    }

    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    User(Id),
    Group(Id),
    Integration(Id),
    /// Every member (not guest) of the workspace.
    WorkspaceMembers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub level: Level,
}

/// One node of a chain: its own grants and whether it inherits from its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: Id,
    pub inherits: bool,
    pub grants: Vec<Grant>,
}

/// What an integration may do besides reading, as Notion's integration capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    pub read_content: bool,
    pub update_content: bool,
    pub insert_content: bool,
    pub read_comments: bool,
    pub insert_comments: bool,
    pub user_information: UserInformation,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        read_content: true,
        update_content: true,
        insert_content: true,
        read_comments: true,
        insert_comments: true,
        user_information: UserInformation::WithEmail,
    };

    pub const READ_ONLY: Capabilities = Capabilities {
        read_content: true,
        update_content: false,
        insert_content: false,
        read_comments: false,
        insert_comments: false,
        user_information: UserInformation::None,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserInformation {
    None,
    WithoutEmail,
    WithEmail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Member,
    Guest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActor {
    pub id: Id,
    pub role: Role,
    pub groups: Vec<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationActor {
    pub id: Id,
    /// The integration's bot user, shown as `created_by`/`last_edited_by`.
    pub bot_user_id: Id,
    pub capabilities: Capabilities,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person with a session or personal token.
    User(UserActor),
    /// An integration's bot with an internal integration token.
    Bot(IntegrationActor),
    /// An integration acting on behalf of a user (a run, an agent).
    Delegated {
        user: UserActor,
        integration: IntegrationActor,
    },
}

impl Actor {
    /// The user id recorded as `created_by` / `last_edited_by`.
    pub fn author_id(&self) -> Id {
        match self {
            Actor::User(user) => user.id,
            Actor::Bot(bot) => bot.bot_user_id,
            Actor::Delegated { integration, .. } => integration.bot_user_id,
        }
    }

    pub fn integration(&self) -> Option<&IntegrationActor> {
        match self {
            Actor::User(_) => None,
            Actor::Bot(integration) | Actor::Delegated { integration, .. } => Some(integration),
        }
    }

    pub fn user(&self) -> Option<&UserActor> {
        match self {
            Actor::User(user) | Actor::Delegated { user, .. } => Some(user),
            Actor::Bot(_) => None,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        self.integration()
            .map(|i| i.capabilities)
            .unwrap_or(Capabilities::ALL)
    }
}

/// What the actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    ReadComments,
    InsertComment,
    /// Change content or properties of an existing object, move it, trash it.
    Update,
    /// Create a child object (page, block, row) under the node.
    Insert,
    /// Change who can access the node.
    Share,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::ReadComments => "read_comments",
            Operation::InsertComment => "insert_comment",
            Operation::Update => "update",
            Operation::Insert => "insert",
            Operation::Share => "share",
        }
    }

    /// The least level that allows the operation.
    pub fn level_needed(&self) -> Level {
        match self {
            Operation::Read | Operation::ReadComments => Level::CanView,
            Operation::InsertComment => Level::CanComment,
            Operation::Update | Operation::Insert => Level::CanEdit,
            Operation::Share => Level::FullAccess,
        }
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The actor cannot read the node: answer as if it did not exist.
    Hidden,
    /// The actor can read the node but not do this; `capability` names the missing
    /// integration capability when that is the reason.
    Forbidden {
        capability: Option<&'static str>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// The level a single grantee set reaches on `chain` (node first, root last).
fn level_for(chain: &[Node], matches: impl Fn(&Grantee) -> bool) -> Level {
    // The nearest grant per grantee wins, so collect the matching grantees already seen (a
    // grantee that does not match never counts: keeping only these keeps the walk linear in
    // the grants, where a page shared with hundreds of integrations made it quadratic).
    let mut seen: Vec<Grantee> = Vec::new();
    let mut best = Level::None;
    for node in chain {
        for grant in &node.grants {
            if !matches(&grant.grantee) || seen.contains(&grant.grantee) {
                continue;
            }
            seen.push(grant.grantee);
            best = best.max(grant.level);
        }
        if !node.inherits {
            break;
        }
    }
    best
}

fn user_level(user: &UserActor, chain: &[Node]) -> Level {
    level_for(chain, |grantee| match grantee {
        Grantee::User(id) => *id == user.id,
        Grantee::Group(id) => user.groups.contains(id),
        Grantee::WorkspaceMembers => user.role != Role::Guest,
        Grantee::Integration(_) => false,
    })
}

fn integration_level(integration: &IntegrationActor, chain: &[Node]) -> Level {
    let level = level_for(
        chain,
        |grantee| matches!(grantee, Grantee::Integration(id) if *id == integration.id),
    );
    if integration.capabilities.read_content {
        level
    } else {
        Level::None
    }
}

/// The actor's level on the node whose chain is given (node first, workspace root last).
pub fn level(actor: &Actor, chain: &[Node]) -> Level {
    match actor {
        Actor::User(user) => user_level(user, chain),
        Actor::Bot(integration) => integration_level(integration, chain),
        Actor::Delegated { user, integration } => {
            user_level(user, chain).min(integration_level(integration, chain))
        }
    }
}

/// Decides an operation given the actor's level on the node.
pub fn decide_with_level(actor: &Actor, operation: Operation, level: Level) -> Decision {
    if level < Level::CanView {
        return Decision::Hidden;
    }
    let capabilities = actor.capabilities();
    let missing = match operation {
        Operation::Read => None,
        Operation::ReadComments if !capabilities.read_comments => Some("read_comments"),
        Operation::InsertComment if !capabilities.insert_comments => Some("insert_comments"),
        Operation::Update if !capabilities.update_content => Some("update_content"),
        Operation::Insert if !capabilities.insert_content => Some("insert_content"),
        // Integrations never change sharing: only people do.
        Operation::Share if actor.integration().is_some() => Some("share"),
        _ => None,
    };
    if let Some(capability) = missing {
        return Decision::Forbidden {
            capability: Some(capability),
        };
    }
    if level < operation.level_needed() {
        return Decision::Forbidden { capability: None };
    }
    Decision::Allowed
}

/// Decides an operation on the node whose chain is given.
pub fn decide(actor: &Actor, operation: Operation, chain: &[Node]) -> Decision {
    decide_with_level(actor, operation, level(actor, chain))
}

/// What an actor may learn about other users.
pub fn user_information(actor: &Actor) -> UserInformation {
    match actor {
        Actor::User(user) if user.role == Role::Guest => UserInformation::WithoutEmail,
        Actor::User(_) => UserInformation::WithEmail,
        Actor::Bot(integration) => integration.capabilities.user_information,
        Actor::Delegated { integration, .. } => integration
            .capabilities
            .user_information
            .min(UserInformation::WithEmail),
    }
}

/// Who may create pages at the top level of the workspace.
pub fn may_create_top_level(actor: &Actor) -> bool {
    match actor {
        Actor::User(user) => user.role != Role::Guest,
        Actor::Bot(_) => false,
        Actor::Delegated { user, integration } => {
            user.role != Role::Guest && integration.capabilities.insert_content
        }
    }
}

/// The workspace root node, which carries the default access of members to top-level
/// pages and databases.
pub fn workspace_root(id: Id, members_level: Level) -> Node {
    let grants = if members_level > Level::None {
        vec![Grant {
            grantee: Grantee::WorkspaceMembers,
            level: members_level,
        }]
    } else {
        Vec::new()
    };
    Node {
        id,
        inherits: false,
        grants,
    }
}
