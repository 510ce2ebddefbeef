//! The event payload (Notion's webhook event shape) and its signature.

use document::Id;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use workspace::{Delivery, Subscription};

/// `sha256=<hex HMAC-SHA256 of body keyed by the verification token>`, as Notion signs.
pub fn sign(verification_token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(verification_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON body of one delivery. The event id is the delivery id, stable across retries,
/// so receivers can drop duplicates.
pub fn event_payload(
    delivery: &Delivery,
    subscription: &Subscription,
    workspace: Option<&(Id, String)>,
) -> Vec<u8> {
    let parent = delivery
        .parent_id
        .map(|id| json!({"id": id.to_string()}))
        .unwrap_or(Value::Null);
    let mut data = json!({ "parent": parent });
    if delivery.event_type == "page.properties_updated" {
        data["updated_properties"] = json!(delivery.fields);
    }
    let body = json!({
        "id": delivery.id.to_string(),
        "timestamp": document::time::format_ms(delivery.event_time),
        "workspace_id": workspace.map(|(id, _)| id.to_string()),
        "workspace_name": workspace.map(|(_, name)| name.clone()),
        "subscription_id": subscription.id.to_string(),
        "integration_id": subscription.owner_integration_id.map(|id| id.to_string()),
        "type": delivery.event_type,
        "authors": [{"id": delivery.actor_id.to_string()}],
        "attempt_number": delivery.attempts + 1,
        "entity": {"id": delivery.entity_id.to_string(), "type": delivery.entity_kind},
        "data": data,
    });
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
