//! Webhook subscriptions (created by API, unlike Notion's) and the fan-out from the change
//! log to per-subscription deliveries.
//!
//! The fan-out is a change-log consumer with its own cursor. It enqueues deliveries and saves
//! its cursor in one transaction, so a crash never loses or duplicates an event. Each event is
//! delivered only to subscribers who can read the object at fan-out time: a webhook never
//! tells anyone about a page they cannot see.

use std::collections::HashSet;

use access::{Actor, IntegrationActor, Level, Operation, UserActor};
use document::Id;
use rand::Rng;
use storage_sql::{Delivery, DeliveryStatus, Node, Subscription, Tx};

use crate::{Error, Result, Workspace};

/// Event types a subscription may ask for (Notion's names, plus `page.sharing_updated`).
pub const EVENT_TYPES: &[&str] = &[
    "page.created",
    "page.properties_updated",
    "page.content_updated",
    "page.moved",
    "page.deleted",
    "page.undeleted",
    "page.sharing_updated",
    "comment.created",
    "database.created",
    "database.updated",
    "database.deleted",
    "data_source.created",
    "data_source.schema_updated",
    "data_source.content_updated",
];

/// The change-log consumer name of the fan-out.
pub const FAN_OUT_CONSUMER: &str = "webhooks.fan_out";
/// Subscriptions per owner, at most.
pub const SUBSCRIPTIONS_PER_OWNER_MAX: usize = 100;
/// Delivery attempts before a delivery is marked failed.
pub const DELIVERY_ATTEMPTS_MAX: i64 = 8;
/// The first retry waits this long; each further retry doubles it.
pub const RETRY_BASE_MS: i64 = 1_000;
/// No retry waits longer than this.
pub const RETRY_MAX_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    pub url: String,
    pub event_types: Vec<String>,
    pub data_source_id: Option<Id>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered {
        status_code: u16,
    },
    Failed {
        status_code: Option<u16>,
        error: String,
    },
}

fn owner_of(actor: &Actor) -> (Option<Id>, Option<Id>) {
    (
        actor.user().map(|u| u.id),
        actor.integration().map(|i| i.id),
    )
}

fn owns(actor: &Actor, subscription: &Subscription) -> bool {
    owner_of(actor)
        == (
            subscription.owner_user_id,
            subscription.owner_integration_id,
        )
}

/// Maps a change-log kind to the webhook event type and the object whose access decides
/// who may hear of it.
fn event_of(
    kind: &str,
    object_id: Id,
    parent_id: Option<Id>,
) -> Option<(&'static str, &'static str, Id)> {
    Some(match kind {
        "block.created" | "block.updated" | "block.deleted" => {
            ("page.content_updated", "page", parent_id?)
        }
        "comment.created" => ("comment.created", "comment", object_id),
        other => {
            // The event's prefix names the entity: `page`, `database` or `data_source`.
            let event: &'static str = EVENT_TYPES.iter().find(|t| **t == other)?;
            (event, event.split('.').next().unwrap_or("page"), object_id)
        }
    })
}

/// The delay before retry number `attempt` (1-based), doubling with jitter.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    let exponent = (attempt - 1).clamp(0, 30) as u32;
    let delay = RETRY_BASE_MS
        .saturating_mul(1_i64 << exponent)
        .min(RETRY_MAX_MS);
    delay + rand::rng().random_range(0..=delay / 4)
}

async fn subscriber(tx: &mut Tx, subscription: &Subscription) -> Result<Option<Actor>> {
    let user = match subscription.owner_user_id {
        Some(id) => match tx.get_user(id).await? {
            Some(user) => Some(UserActor {
                id: user.id,
                role: user.role,
                groups: tx.user_groups(user.id).await?,
            }),
            None => return Ok(None),
        },
        None => None,
    };
    let integration = match subscription.owner_integration_id {
        Some(id) => match tx.get_integration(id).await? {
            Some(record) => Some(IntegrationActor {
                id: record.id,
                bot_user_id: record.bot_user_id,
                capabilities: record.capabilities,
            }),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(match (user, integration) {
        (Some(user), Some(integration)) => Some(Actor::Delegated { user, integration }),
        (Some(user), None) => Some(Actor::User(user)),
        (None, Some(integration)) => Some(Actor::Bot(integration)),
        (None, None) => None,
    })
}

async fn can_read(tx: &mut Tx, root: &access::Node, actor: &Actor, id: Id) -> Result<bool> {
    let chain = tx.chain(id).await?;
    if chain.nodes.is_empty() {
        return Ok(false);
    }
    Ok(access::level(actor, &chain.with_root(root)) >= Level::CanView)
}

impl Workspace {
    /// Refuses, at registration, a URL whose host needs no DNS to be found internal: an IP
    /// literal in any spelling the URL parser accepts (`2130706433`, `0x7f.1`,
    /// `[::ffff:127.0.0.1]`, ...) that the `egress` policy refuses, or a `localhost` name.
    /// Other names are checked on their resolved addresses at each delivery, as they may
    /// resolve differently by then.
    fn check_webhook_host(&self, url: &str) -> Result<()> {
        // The same parser as delivery's (reqwest's `Url` is `url::Url`), so both see one host.
        let parsed = url::Url::parse(url)
            .map_err(|error| Error::validation("url", format!("`{url}` is not a URL: {error}")))?;
        let Some(host) = parsed.host() else {
            return Err(Error::validation("url", format!("`{url}` has no host")));
        };
        let policy = egress::AddressPolicy {
            allow_private_networks: self.webhook_allow_private_networks,
        };
        policy.check_host(&host).map_err(|refused| {
            Error::validation(
                "url",
                format!(
                    "`{url}` is refused: {refused}; a webhook must be delivered to a public address"
                ),
            )
        })
    }

    pub async fn create_subscription(
        &self,
        actor: &Actor,
        new: NewSubscription,
    ) -> Result<Subscription> {
        let url = new.url.trim().to_string();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok
            || url.len() > document::limits::URL_CHARS_MAX
            || url.contains(char::is_whitespace)
        {
            return Err(Error::validation(
                "url",
                "should be an http:// or https:// URL of at most 2000 characters",
            ));
        }
        self.check_webhook_host(&url)?;
        for (index, event_type) in new.event_types.iter().enumerate() {
            if !EVENT_TYPES.contains(&event_type.as_str()) {
                return Err(Error::validation(
                    format!("event_types[{index}]"),
                    format!(
                        "`{event_type}` is not an event type; use one of {}",
                        EVENT_TYPES.join(", ")
                    ),
                ));
            }
        }
        let mut r = self.begin(actor, true).await?;
        let result = async {
            if let Some(data_source_id) = new.data_source_id {
                match r
                    .require(data_source_id, Operation::Read, "data_source")
                    .await?
                    .0
                    .node
                {
                    Node::DataSource(_) => {}
                    _ => return Err(Error::not_found("data_source", data_source_id)),
                }
            }
            let (owner_user_id, owner_integration_id) = owner_of(r.actor);
            let owned =
                r.tx.active_subscriptions()
                    .await?
                    .iter()
                    .filter(|s| owns(r.actor, s))
                    .count();
            if owned >= SUBSCRIPTIONS_PER_OWNER_MAX {
                return Err(Error::validation(
                    "url",
                    format!("at most {SUBSCRIPTIONS_PER_OWNER_MAX} subscriptions per owner"),
                ));
            }
            let token_bytes: [u8; 24] = rand::rng().random();
            let subscription = Subscription {
                id: Id::new(),
                url,
                verification_token: format!("secret_{}", hex::encode(token_bytes)),
                event_types: new.event_types,
                data_source_id: new.data_source_id,
                owner_user_id,
                owner_integration_id,
                active: true,
                created_time: r.now,
            };
            r.tx.insert_subscription(&subscription).await?;
            Ok(subscription)
        }
        .await;
        r.finish(result).await
    }

    /// The caller's own active subscriptions.
    pub async fn list_subscriptions(&self, actor: &Actor) -> Result<Vec<Subscription>> {
        let mut tx = self.store.read().await?;
        let subscriptions = tx
            .active_subscriptions()
            .await?
            .into_iter()
            .filter(|s| owns(actor, s))
            .collect();
        tx.commit().await?;
        Ok(subscriptions)
    }

    /// One of the caller's subscriptions; anyone else's is not found.
    pub async fn get_subscription(&self, actor: &Actor, id: Id) -> Result<Subscription> {
        let mut tx = self.store.read().await?;
        let subscription = tx.get_subscription(id).await?;
        tx.commit().await?;
        subscription
            .filter(|s| s.active && owns(actor, s))
            .ok_or_else(|| Error::not_found("webhook", id))
    }

    pub async fn delete_subscription(&self, actor: &Actor, id: Id) -> Result<Subscription> {
        let subscription = self.get_subscription(actor, id).await?;
        let mut tx = self.store.write().await?;
        tx.deactivate_subscription(id).await?;
        tx.commit().await?;
        Ok(Subscription {
            active: false,
            ..subscription
        })
    }

    /// The delivery log of one of the caller's subscriptions, newest first.
    pub async fn subscription_deliveries(
        &self,
        actor: &Actor,
        id: Id,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        self.get_subscription(actor, id).await?;
        let mut tx = self.store.read().await?;
        let deliveries = tx.deliveries(id, limit.clamp(1, 100)).await?;
        tx.commit().await?;
        Ok(deliveries)
    }

    /// Moves up to `batch` change-log events into deliveries. Returns the events read.
    pub async fn fan_out_webhooks(&self, batch: i64) -> Result<usize> {
        let mut tx = self.store.write().await?;
        let cursor = tx.load_cursor(FAN_OUT_CONSUMER).await?;
        let changes = tx.read_changes(cursor, batch).await?;
        let Some(last) = changes.last().map(|c| c.cursor) else {
            tx.commit().await?;
            return Ok(0);
        };
        let subscriptions = tx.active_subscriptions().await?;
        let record = tx
            .workspace()
            .await?
            .ok_or_else(|| Error::Internal("workspace record missing".into()))?;
        let root = access::workspace_root(record.id, record.members_level);
        let now = crate::clock::now_ms();
        // Many block edits on one page in one batch make one `page.content_updated`.
        let mut coalesced: HashSet<(Id, Id)> = HashSet::new();
        for subscription in &subscriptions {
            let Some(actor) = subscriber(&mut tx, subscription).await? else {
                continue;
            };
            for change in &changes {
                // A subscription hears only of changes made after it was created, even when
                // the fan-out is still catching up on older ones.
                if change.time < subscription.created_time {
                    continue;
                }
                let change_record = &change.change;
                let Some((event_type, entity_kind, entity_id)) = event_of(
                    &change_record.kind,
                    change_record.object_id,
                    change_record.parent_id,
                ) else {
                    continue;
                };
                if !subscription.event_types.is_empty()
                    && !subscription.event_types.iter().any(|t| t == event_type)
                {
                    continue;
                }
                if event_type == "page.content_updated"
                    && !coalesced.insert((subscription.id, entity_id))
                {
                    continue;
                }
                // Comments are decided by their page.
                let decided_by = if entity_kind == "comment" {
                    change_record.parent_id.unwrap_or(entity_id)
                } else {
                    entity_id
                };
                if let Some(data_source_id) = subscription.data_source_id {
                    let parent = match tx.get_node(decided_by).await?.map(|n| n.node) {
                        Some(node) => node.parent().node_id(),
                        None => None,
                    };
                    if decided_by != data_source_id && parent != Some(data_source_id) {
                        continue;
                    }
                }
                if !can_read(&mut tx, &root, &actor, decided_by).await? {
                    continue;
                }
                let parent_id = if entity_kind == "page" && event_type == "page.content_updated" {
                    tx.get_node(entity_id)
                        .await?
                        .and_then(|n| n.node.parent().node_id())
                } else {
                    change_record.parent_id
                };
                tx.enqueue_delivery(&Delivery {
                    id: Id::new(),
                    subscription_id: subscription.id,
                    event_seq: change.seq,
                    event_time: change.time,
                    event_type: event_type.to_string(),
                    entity_kind: entity_kind.to_string(),
                    entity_id,
                    parent_id,
                    actor_id: change_record.actor_id,
                    fields: change_record.fields.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_time: now,
                    last_status_code: None,
                    last_error: None,
                    created_time: now,
                    delivered_time: None,
                })
                .await?;
            }
        }
        tx.save_cursor(FAN_OUT_CONSUMER, last, now).await?;
        tx.commit().await?;
        Ok(changes.len())
    }

    /// Claims due deliveries with their subscriptions, leased for `lease_ms`.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<(Delivery, Subscription)>> {
        let now = crate::clock::now_ms();
        let mut tx = self.store.write().await?;
        let deliveries = tx.claim_deliveries(now, now + lease_ms, limit).await?;
        let mut claimed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match tx.get_subscription(delivery.subscription_id).await? {
                Some(subscription) if subscription.active => claimed.push((delivery, subscription)),
                _ => {
                    tx.record_attempt(
                        delivery.id,
                        DeliveryStatus::Failed,
                        None,
                        Some("subscription deleted"),
                        now,
                        now,
                    )
                    .await?
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records an attempt: delivered, retried later with backoff, or failed for good.
    pub async fn record_delivery_attempt(
        &self,
        delivery: &Delivery,
        outcome: &AttemptOutcome,
    ) -> Result<DeliveryStatus> {
        let now = crate::clock::now_ms();
        let attempt = delivery.attempts + 1;
        let (status, code, error, next) = match outcome {
            AttemptOutcome::Delivered { status_code } => (
                DeliveryStatus::Delivered,
                Some(*status_code as i64),
                None,
                now,
            ),
            AttemptOutcome::Failed { status_code, error } => {
                let status = if attempt >= DELIVERY_ATTEMPTS_MAX {
                    DeliveryStatus::Failed
                } else {
                    DeliveryStatus::Pending
                };
                (
                    status,
                    status_code.map(i64::from),
                    Some(error.as_str()),
                    now + retry_delay_ms(attempt),
                )
            }
        };
        let mut tx = self.store.write().await?;
        tx.record_attempt(delivery.id, status, code, error, next, now)
            .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// The workspace's id and name, for event payloads.
    pub async fn workspace_identity(&self) -> Result<(Id, String)> {
        let mut tx = self.store.read().await?;
        let record = tx
            .workspace()
            .await?
            .ok_or_else(|| Error::Internal("workspace record missing".into()))?;
        tx.commit().await?;
        Ok((record.id, record.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_are_capped() {
        for attempt in 1..=20 {
            let delay = retry_delay_ms(attempt);
            let base = (RETRY_BASE_MS << (attempt - 1).min(30)).min(RETRY_MAX_MS);
            assert!(
                delay >= base && delay <= base + base / 4,
                "attempt {attempt}: {delay}"
            );
        }
    }

    #[test]
    fn block_changes_become_content_updates_of_their_page() {
        let page = Id::new();
        assert_eq!(
            event_of("block.created", Id::new(), Some(page)),
            Some(("page.content_updated", "page", page))
        );
        assert_eq!(event_of("block.created", Id::new(), None), None);
        let data_source = Id::new();
        assert_eq!(
            event_of("data_source.schema_updated", data_source, None),
            Some(("data_source.schema_updated", "data_source", data_source))
        );
        assert_eq!(event_of("no.such.kind", data_source, None), None);
    }
}
