//! Webhook delivery. A worker loop moves change-log events into deliveries (through the
//! `workspace` service, which decides who may hear of what), claims due deliveries under a
//! lease, POSTs Notion-shaped event payloads signed as Notion signs them
//! (`X-Notion-Signature: sha256=<HMAC-SHA256 of the body, keyed by the verification
//! token>`, which `@notionhq/client`'s `verifyWebhookSignature` accepts), and records each
//! attempt, retrying with backoff.
//!
//! Outbound requests never reach loopback, private, link-local, metadata or other non-public
//! addresses (the `egress` policy, which also decodes IPv4 inside IPv6) unless the operator
//! allows private networks: the check runs on a URL's literal host and on the addresses DNS
//! returns, and the connection uses only those checked addresses, so DNS rebinding cannot get
//! through. Registration refuses literal and `localhost` hosts earlier (`workspace`).

mod guard;
mod payload;

use std::sync::Arc;
use std::time::Duration;

use egress::AddressPolicy;
use tokio::task::JoinSet;
use workspace::{AttemptOutcome, Delivery, Subscription, Workspace};

pub use payload::{event_payload, sign};

/// Delivery settings, with units in their names.
#[derive(Debug, Clone)]
pub struct Config {
    /// Allow webhook URLs on loopback and private networks (development and tests).
    pub allow_private_networks: bool,
    pub request_timeout_ms: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Pause when there is nothing to do.
    pub idle_poll_ms: u64,
    /// How long a claimed delivery stays leased to this worker.
    pub lease_ms: i64,
    /// Change-log events fanned out per transaction.
    pub fan_out_batch_events: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_private_networks: false,
            request_timeout_ms: 10_000,
            concurrency: 8,
            idle_poll_ms: 200,
            lease_ms: 60_000,
            fan_out_batch_events: 500,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Sends deliveries over HTTP.
pub struct Sender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl Sender {
    pub fn new(config: &Config) -> Result<Sender, Error> {
        // Pick ring as the TLS provider once per process; a second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = AddressPolicy {
            allow_private_networks: config.allow_private_networks,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            // A redirect could point at an internal address: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(guard::GuardedResolver { policy }))
            .user_agent("Trellis-Webhooks/1")
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Sender { client, policy })
    }

    /// One attempt. Any 2xx is delivered; everything else is retried.
    pub async fn send(&self, subscription: &Subscription, body: Vec<u8>) -> AttemptOutcome {
        let url = match reqwest::Url::parse(&subscription.url) {
            Ok(url) => url,
            Err(error) => {
                return AttemptOutcome::Failed {
                    status_code: None,
                    error: format!("invalid URL: {error}"),
                };
            }
        };
        // Literal IP hosts skip DNS, so check them here. Registration refused them already
        // unless the subscription predates that check or private networks were allowed then.
        if let Some(reason) = guard::refuse_literal_host(self.policy, &url) {
            return AttemptOutcome::Failed {
                status_code: None,
                error: reason,
            };
        }
        let signature = sign(&subscription.verification_token, &body);
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Notion-Signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
                status_code: response.status().as_u16(),
            },
            Ok(response) => AttemptOutcome::Failed {
                status_code: Some(response.status().as_u16()),
                error: format!("HTTP {}", response.status()),
            },
            Err(error) => AttemptOutcome::Failed {
                status_code: None,
                error: describe(&error),
            },
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Runs fan-out and delivery until `shutdown` resolves.
pub async fn run(
    workspace: Workspace,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let sender = Arc::new(Sender::new(&config)?);
    let mut changes = workspace.store().watch_changes();
    tokio::pin!(shutdown);
    loop {
        // A change committed from here on ends the idle wait after this round.
        changes.mark_seen();
        let busy = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            busy = step(&workspace, &sender, &config) => busy,
        };
        if !busy {
            // A change committed by this process is fanned out at once; other processes'
            // changes, and deliveries due for a retry, on the next poll.
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = changes.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(config.idle_poll_ms)) => {}
            }
        }
    }
}

/// One round: fan out new events, then deliver what is due. Returns whether it did work.
pub async fn step(workspace: &Workspace, sender: &Arc<Sender>, config: &Config) -> bool {
    let fanned = match workspace
        .fan_out_webhooks(config.fan_out_batch_events)
        .await
    {
        Ok(count) => count,
        Err(error) => {
            tracing::warn!(%error, "webhook fan-out failed");
            0
        }
    };
    let claimed = match workspace
        .claim_deliveries(config.concurrency as i64, config.lease_ms)
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "claiming webhook deliveries failed");
            Vec::new()
        }
    };
    if claimed.is_empty() {
        return fanned > 0;
    }
    let identity = workspace.workspace_identity().await.ok();
    let mut tasks = JoinSet::new();
    for (delivery, subscription) in claimed {
        let sender = sender.clone();
        let workspace = workspace.clone();
        let identity = identity.clone();
        tasks.spawn(
            async move { deliver(&workspace, &sender, delivery, subscription, identity).await },
        );
    }
    while tasks.join_next().await.is_some() {}
    true
}

async fn deliver(
    workspace: &Workspace,
    sender: &Sender,
    delivery: Delivery,
    subscription: Subscription,
    identity: Option<(document::Id, String)>,
) {
    let body = event_payload(&delivery, &subscription, identity.as_ref());
    let outcome = sender.send(&subscription, body).await;
    match workspace.record_delivery_attempt(&delivery, &outcome).await {
        Ok(status) => tracing::debug!(delivery = %delivery.id, ?status, "webhook attempt recorded"),
        Err(error) => {
            tracing::warn!(%error, delivery = %delivery.id, "recording a webhook attempt failed")
        }
    }
}
