//! Webhook subscriptions and the delivery queue.
//!
//! Deliveries are claimed with a lease: a claim moves `next_attempt_time` past the lease, so
//! a worker that dies mid-delivery leaves the delivery to be claimed again when the lease
//! ends (at-least-once; receivers dedupe by event id). On PostgreSQL the claim skips rows
//! another node holds (`FOR UPDATE SKIP LOCKED`).

use document::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Dialect, Error, Result, Tx, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: Id,
    pub url: String,
    pub verification_token: String,
    /// Event types delivered; empty means all.
    pub event_types: Vec<String>,
    /// Only events about this data source and its rows, when set.
    pub data_source_id: Option<Id>,
    pub owner_user_id: Option<Id>,
    pub owner_integration_id: Option<Id>,
    pub active: bool,
    pub created_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => return Err(Error::Corrupt(format!("delivery status `{other}`"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Id,
    pub subscription_id: Id,
    pub event_seq: i64,
    pub event_time: i64,
    pub event_type: String,
    pub entity_kind: String,
    pub entity_id: Id,
    pub parent_id: Option<Id>,
    pub actor_id: Id,
    pub fields: Vec<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_time: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_time: i64,
    pub delivered_time: Option<i64>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, url, verification_token, event_types, data_source_id, owner_user_id, owner_integration_id, active, created_time";
const DELIVERY_COLUMNS: &str = "id, subscription_id, event_seq, event_time, event_type, entity_kind, entity_id, parent_id, actor_id, fields, \
     status, attempts, next_attempt_time, last_status_code, last_error, created_time, delivered_time";

fn optional_id(row: &AnyRow, column: &str) -> Result<Option<Id>> {
    let text: Option<String> = row.try_get(column)?;
    text.as_deref().map(parse_id).transpose()
}

fn decode_subscription(row: &AnyRow) -> Result<Subscription> {
    let types: String = row.try_get("event_types")?;
    Ok(Subscription {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        url: row.try_get("url")?,
        verification_token: row.try_get("verification_token")?,
        event_types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        data_source_id: optional_id(row, "data_source_id")?,
        owner_user_id: optional_id(row, "owner_user_id")?,
        owner_integration_id: optional_id(row, "owner_integration_id")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_time: row.try_get("created_time")?,
    })
}

fn decode_delivery(row: &AnyRow) -> Result<Delivery> {
    let fields: String = row.try_get("fields")?;
    Ok(Delivery {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        subscription_id: parse_id(&row.try_get::<String, _>("subscription_id")?)?,
        event_seq: row.try_get("event_seq")?,
        event_time: row.try_get("event_time")?,
        event_type: row.try_get("event_type")?,
        entity_kind: row.try_get("entity_kind")?,
        entity_id: parse_id(&row.try_get::<String, _>("entity_id")?)?,
        parent_id: optional_id(row, "parent_id")?,
        actor_id: parse_id(&row.try_get::<String, _>("actor_id")?)?,
        fields: serde_json::from_str(&fields).map_err(|e| Error::Corrupt(e.to_string()))?,
        status: DeliveryStatus::parse(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        next_attempt_time: row.try_get("next_attempt_time")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        created_time: row.try_get("created_time")?,
        delivered_time: row.try_get("delivered_time")?,
    })
}

impl Tx {
    pub async fn insert_subscription(&mut self, subscription: &Subscription) -> Result<()> {
        sqlx::query(&format!("INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(subscription.id.to_string())
            .bind(subscription.url.clone())
            .bind(subscription.verification_token.clone())
            .bind(subscription.event_types.join(","))
            .bind(subscription.data_source_id.map(|id| id.to_string()))
            .bind(subscription.owner_user_id.map(|id| id.to_string()))
            .bind(subscription.owner_integration_id.map(|id| id.to_string()))
            .bind(subscription.active as i64)
            .bind(subscription.created_time)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn get_subscription(&mut self, id: Id) -> Result<Option<Subscription>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_subscription).transpose()
    }

    /// Active subscriptions, oldest first.
    pub async fn active_subscriptions(&mut self) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE active = 1 ORDER BY created_time, id"))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(decode_subscription).collect()
    }

    pub async fn deactivate_subscription(&mut self, id: Id) -> Result<bool> {
        let result =
            sqlx::query("UPDATE webhook_subscriptions SET active = 0 WHERE id = $1 AND active = 1")
                .bind(id.to_string())
                .execute(&mut *self.tx)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Enqueues a delivery unless this subscription already has one for the event.
    pub async fn enqueue_delivery(&mut self, delivery: &Delivery) -> Result<bool> {
        let fields =
            serde_json::to_string(&delivery.fields).map_err(|e| Error::Corrupt(e.to_string()))?;
        let result = sqlx::query(&format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (subscription_id, event_seq) DO NOTHING"
        ))
        .bind(delivery.id.to_string())
        .bind(delivery.subscription_id.to_string())
        .bind(delivery.event_seq)
        .bind(delivery.event_time)
        .bind(delivery.event_type.clone())
        .bind(delivery.entity_kind.clone())
        .bind(delivery.entity_id.to_string())
        .bind(delivery.parent_id.map(|id| id.to_string()))
        .bind(delivery.actor_id.to_string())
        .bind(fields)
        .bind(delivery.status.name())
        .bind(delivery.attempts)
        .bind(delivery.next_attempt_time)
        .bind(delivery.last_status_code)
        .bind(delivery.last_error.clone())
        .bind(delivery.created_time)
        .bind(delivery.delivered_time)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Claims up to `limit` due deliveries, leasing each until `lease_until`.
    pub async fn claim_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_time <= $1 \
             ORDER BY next_attempt_time, event_seq LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        let deliveries = rows
            .iter()
            .map(decode_delivery)
            .collect::<Result<Vec<_>>>()?;
        for delivery in &deliveries {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_time = $1 WHERE id = $2")
                .bind(lease_until)
                .bind(delivery.id.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(deliveries)
    }

    /// Records one attempt's outcome.
    pub async fn record_attempt(
        &mut self,
        id: Id,
        status: DeliveryStatus,
        status_code: Option<i64>,
        error: Option<&str>,
        next_attempt_time: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status_code = $2, last_error = $3, \
             next_attempt_time = $4, delivered_time = $5 WHERE id = $6",
        )
        .bind(status.name())
        .bind(status_code)
        .bind(error.map(str::to_string))
        .bind(next_attempt_time)
        .bind(if status == DeliveryStatus::Delivered { Some(now) } else { None })
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A subscription's deliveries, newest first.
    pub async fn deliveries(&mut self, subscription_id: Id, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY event_seq DESC LIMIT $2"
        ))
        .bind(subscription_id.to_string())
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(decode_delivery).collect()
    }
}
