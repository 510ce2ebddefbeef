//! Properties of the permission model over random trees, grants and actors.

use std::collections::HashMap;

use access::{
    Actor, Capabilities, Decision, Grant, Grantee, IntegrationActor, Level, Node, Operation, Role,
    UserActor, UserInformation, decide, level, workspace_root,
};
use document::Id;
use proptest::prelude::*;

const USERS: u128 = 4;
const GROUPS: u128 = 2;

fn grantee() -> impl Strategy<Value = Grantee> {
    prop_oneof![
        (0..USERS).prop_map(|n| Grantee::User(Id::from_u128(100 + n))),
        (0..GROUPS).prop_map(|n| Grantee::Group(Id::from_u128(200 + n))),
        Just(Grantee::Integration(Id::from_u128(300))),
        Just(Grantee::WorkspaceMembers),
    ]
}

fn grant_level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

/// A random forest: node i's parent is some j < i, or none (top level).
#[derive(Debug, Clone)]
struct Tree {
    parents: Vec<Option<usize>>,
    inherits: Vec<bool>,
    grants: Vec<Vec<Grant>>,
    members_level: Level,
}

fn tree() -> impl Strategy<Value = Tree> {
    (1usize..14).prop_flat_map(|size| {
        (
            (0..size)
                .map(|i| {
                    if i == 0 {
                        Just(None).boxed()
                    } else {
                        proptest::option::weighted(0.85, 0..i).boxed()
                    }
                })
                .collect::<Vec<_>>(),
            prop::collection::vec(prop::bool::weighted(0.8), size),
            prop::collection::vec(
                prop::collection::vec(
                    (grantee(), grant_level())
                        .prop_map(|(grantee, level)| Grant { grantee, level }),
                    0..3,
                ),
                size,
            ),
            grant_level(),
        )
            .prop_map(|(parents, inherits, grants, members_level)| {
                // One grant per grantee per node, as the store keeps them.
                let grants = grants
                    .into_iter()
                    .map(|node_grants| {
                        let mut seen = HashMap::new();
                        for grant in node_grants {
                            seen.insert(grant.grantee, grant);
                        }
                        seen.into_values().collect()
                    })
                    .collect();
                Tree {
                    parents,
                    inherits,
                    grants,
                    members_level,
                }
            })
    })
}

impl Tree {
    fn chain(&self, mut index: usize) -> Vec<Node> {
        let mut chain = Vec::new();
        loop {
            chain.push(Node {
                id: Id::from_u128(index as u128),
                inherits: self.inherits[index],
                grants: self.grants[index].clone(),
            });
            match self.parents[index] {
                Some(parent) => index = parent,
                None => break,
            }
        }
        chain.push(workspace_root(Id::from_u128(9999), self.members_level));
        chain
    }

    /// A second, top-down formulation: each node's effective grant per grantee is its own
    /// grant, else (if it inherits) its parent's effective grant.
    fn materialize(&self) -> Vec<HashMap<Grantee, Level>> {
        let mut effective: Vec<HashMap<Grantee, Level>> = Vec::with_capacity(self.parents.len());
        let root: HashMap<Grantee, Level> = if self.members_level > Level::None {
            [(Grantee::WorkspaceMembers, self.members_level)].into()
        } else {
            HashMap::new()
        };
        for index in 0..self.parents.len() {
            let mut map = if self.inherits[index] {
                match self.parents[index] {
                    Some(parent) => effective[parent].clone(),
                    None => root.clone(),
                }
            } else {
                HashMap::new()
            };
            for grant in &self.grants[index] {
                map.insert(grant.grantee, grant.level);
            }
            effective.push(map);
        }
        effective
    }
}

fn user(n: u128, role: Role, groups: Vec<u128>) -> UserActor {
    UserActor {
        id: Id::from_u128(100 + n),
        role,
        groups: groups.into_iter().map(|g| Id::from_u128(200 + g)).collect(),
    }
}

fn integration(capabilities: Capabilities) -> IntegrationActor {
    IntegrationActor {
        id: Id::from_u128(300),
        bot_user_id: Id::from_u128(301),
        capabilities,
    }
}

fn actor() -> impl Strategy<Value = UserActor> {
    (
        0..USERS,
        prop::sample::select(vec![Role::Owner, Role::Member, Role::Guest]),
        prop::sample::subsequence(vec![0u128, 1], 0..=2),
    )
        .prop_map(|(n, role, groups)| user(n, role, groups))
}

fn matches(actor: &UserActor, grantee: &Grantee) -> bool {
    match grantee {
        Grantee::User(id) => *id == actor.id,
        Grantee::Group(id) => actor.groups.contains(id),
        Grantee::WorkspaceMembers => actor.role != Role::Guest,
        Grantee::Integration(_) => false,
    }
}

proptest! {
    #[test]
    fn chain_walk_agrees_with_top_down_materialization(tree in tree(), person in actor()) {
        let effective = tree.materialize();
        for (index, map) in effective.iter().enumerate() {
            let expected = map.iter().filter(|(g, _)| matches(&person, g)).map(|(_, l)| *l).max().unwrap_or(Level::None);
            prop_assert_eq!(level(&Actor::User(person.clone()), &tree.chain(index)), expected, "node {}", index);
        }
    }

    #[test]
    fn delegation_never_exceeds_either_party(tree in tree(), person in actor(), read in any::<bool>()) {
        let capabilities = Capabilities { read_content: read, ..Capabilities::ALL };
        for index in 0..tree.parents.len() {
            let chain = tree.chain(index);
            let as_user = level(&Actor::User(person.clone()), &chain);
            let as_bot = level(&Actor::Bot(integration(capabilities)), &chain);
            let delegated = level(&Actor::Delegated { user: person.clone(), integration: integration(capabilities) }, &chain);
            prop_assert_eq!(delegated, as_user.min(as_bot));
            if !read {
                prop_assert_eq!(delegated, Level::None);
            }
        }
    }

    #[test]
    fn guests_see_only_what_is_shared_with_them(tree in tree(), n in 0..USERS) {
        let guest = user(n, Role::Guest, vec![]);
        let mut without_members = tree.clone();
        for grants in &mut without_members.grants {
            grants.retain(|g| g.grantee != Grantee::WorkspaceMembers);
        }
        without_members.members_level = Level::None;
        for index in 0..tree.parents.len() {
            let with = level(&Actor::User(guest.clone()), &tree.chain(index));
            let without = level(&Actor::User(guest.clone()), &without_members.chain(index));
            prop_assert!(with <= without, "a workspace-members grant reached a guest");
        }
    }

    #[test]
    fn unreadable_means_hidden_for_every_operation(tree in tree(), person in actor()) {
        for index in 0..tree.parents.len() {
            let chain = tree.chain(index);
            let actor = Actor::User(person.clone());
            let readable = level(&actor, &chain) >= Level::CanView;
            for operation in [Operation::Read, Operation::ReadComments, Operation::InsertComment, Operation::Update, Operation::Insert, Operation::Share] {
                let decision = decide(&actor, operation, &chain);
                prop_assert_eq!(decision == Decision::Hidden, !readable, "{:?}", operation);
            }
        }
    }
}

#[test]
fn a_sub_page_can_lower_what_it_inherits() {
    let ben = user(1, Role::Member, vec![]);
    let parent = Node {
        id: Id::from_u128(1),
        inherits: true,
        grants: vec![Grant {
            grantee: Grantee::User(ben.id),
            level: Level::FullAccess,
        }],
    };
    let child = Node {
        id: Id::from_u128(2),
        inherits: true,
        grants: vec![Grant {
            grantee: Grantee::User(ben.id),
            level: Level::CanView,
        }],
    };
    let root = workspace_root(Id::from_u128(9), Level::None);
    let chain = vec![child, parent, root];
    assert_eq!(level(&Actor::User(ben.clone()), &chain), Level::CanView);
    assert_eq!(
        decide(&Actor::User(ben), Operation::Update, &chain),
        Decision::Forbidden { capability: None }
    );
}

#[test]
fn an_integration_without_a_capability_is_forbidden_not_hidden() {
    let node = Node {
        id: Id::from_u128(1),
        inherits: true,
        grants: vec![Grant {
            grantee: Grantee::Integration(Id::from_u128(300)),
            level: Level::CanEdit,
        }],
    };
    let chain = vec![node, workspace_root(Id::from_u128(9), Level::FullAccess)];
    let bot = Actor::Bot(integration(Capabilities::READ_ONLY));
    assert_eq!(decide(&bot, Operation::Read, &chain), Decision::Allowed);
    assert_eq!(
        decide(&bot, Operation::Insert, &chain),
        Decision::Forbidden {
            capability: Some("insert_content")
        }
    );
    assert_eq!(
        decide(&bot, Operation::Share, &chain),
        Decision::Forbidden {
            capability: Some("share")
        }
    );
    // The bot is not a workspace member: without a grant to it, it sees nothing.
    let unshared = vec![
        Node {
            id: Id::from_u128(2),
            inherits: true,
            grants: vec![],
        },
        workspace_root(Id::from_u128(9), Level::FullAccess),
    ];
    assert_eq!(decide(&bot, Operation::Read, &unshared), Decision::Hidden);
    assert_eq!(access::user_information(&bot), UserInformation::None);
}
