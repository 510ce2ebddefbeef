//! Webhooks end to end: subscribe by API, receive signed events on a loopback receiver,
//! retries after a failure, a delivery log, trimming by access, and refusal of private
//! addresses unless the operator allows them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Server, cli, temp_dir};

/// A received request: its head (request line and headers) and its raw body.
type Received = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<Mutex<u32>>,
}

impl Receiver {
    /// Accepts deliveries on loopback; answers 500 to the first `failures` requests.
    async fn start(failures: u32) -> (Receiver, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let receiver = Receiver {
            failures_left: Arc::new(Mutex::new(failures)),
            ..Default::default()
        };
        let state = receiver.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head, body) = loop {
                        let read = stream.read(&mut chunk).await.unwrap_or(0);
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        let text = String::from_utf8_lossy(&buffer).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let head = text[..end].to_string();
                            let length: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.to_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buffer.len() >= end + 4 + length {
                                break (head, buffer[end + 4..end + 4 + length].to_vec());
                            }
                        }
                    };
                    let fail = {
                        let mut left = state.failures_left.lock().unwrap();
                        let fail = *left > 0;
                        *left = left.saturating_sub(1);
                        fail
                    };
                    state.received.lock().unwrap().push((head, body));
                    let status = if fail {
                        "500 Internal Server Error"
                    } else {
                        "200 OK"
                    };
                    let _ = stream.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await;
                });
            }
        });
        (receiver, port)
    }

    fn events(&self) -> Vec<(String, Value, Vec<u8>)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(head, body)| {
                let signature = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("X-Notion-Signature: ")
                            .or_else(|| l.strip_prefix("x-notion-signature: "))
                    })
                    .unwrap_or_default()
                    .to_string();
                (
                    signature,
                    serde_json::from_slice(body).unwrap_or(Value::Null),
                    body.clone(),
                )
            })
            .collect()
    }
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn title(text: &str) -> Value {
    json!({"title": {"title": [{"type": "text", "text": {"content": text}}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_are_delivered_retried_logged_and_trimmed() {
    let dir = temp_dir("webhooks");
    let data_dir = dir.to_str().unwrap().to_string();
    let server = Server::start_with(&dir, true, &["--webhook-allow-private-networks"]).await;
    let ada = cli(&[
        "token",
        "create",
        "--user",
        "ada@example.com",
        "--data-dir",
        &data_dir,
    ]);
    let ben = cli(&[
        "token",
        "create",
        "--user",
        "ben@example.com",
        "--data-dir",
        &data_dir,
    ]);

    let (ada_receiver, ada_port) = Receiver::start(1).await;
    let (ben_receiver, ben_port) = Receiver::start(0).await;
    let (status, subscription) = server
        .request("POST", "/platform/v1/webhooks", Some(&ada), Some(&json!({"url": format!("http://127.0.0.1:{ada_port}/hook"), "event_types": ["page.created"]})))
        .await
        .unwrap();
    assert_eq!(status, 200, "{subscription}");
    let token = subscription["verification_token"]
        .as_str()
        .unwrap()
        .to_string();
    let subscription_id = subscription["id"].as_str().unwrap().to_string();
    let (status, ben_subscription) = server
        .request(
            "POST",
            "/platform/v1/webhooks",
            Some(&ben),
            Some(&json!({"url": format!("http://127.0.0.1:{ben_port}/hook")})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{ben_subscription}");

    // A page in Finance (Ada only), and a page everyone can see.
    let (_, finance) = server
        .request(
            "POST",
            "/v1/search",
            Some(&ada),
            Some(&json!({"query": "Finance", "filter": {"property": "object", "value": "page"}})),
        )
        .await
        .unwrap();
    let finance = finance["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["properties"]["title"]["title"][0]["plain_text"] == "Finance")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, secret) = server
        .request(
            "POST",
            "/v1/pages",
            Some(&ada),
            Some(&json!({"parent": {"page_id": finance}, "properties": title("Bonus plan")})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, open) = server
        .request(
            "POST",
            "/v1/pages",
            Some(&ada),
            Some(&json!({"parent": {"workspace": true}, "properties": title("Team lunch")})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let secret_id = secret["id"].as_str().unwrap().to_string();
    let open_id = open["id"].as_str().unwrap().to_string();

    // Ada's receiver fails the first attempt; the retry succeeds.
    wait_for(
        || ada_receiver.events().len() >= 3,
        "Ada's two events plus one retry",
    )
    .await;
    let events = ada_receiver.events();
    for (signature, event, body) in &events {
        assert_eq!(
            signature,
            &hmac_hex(&token, body),
            "signature must be HMAC-SHA256 of the raw body"
        );
        assert_eq!(event["type"], "page.created");
        assert_eq!(event["subscription_id"], subscription_id.as_str());
    }
    let entities: Vec<&str> = events
        .iter()
        .map(|(_, e, _)| e["entity"]["id"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&secret_id.as_str()) && entities.contains(&open_id.as_str()));
    let retried: Vec<&Value> = events
        .iter()
        .map(|(_, e, _)| e)
        .filter(|e| e["attempt_number"] == 2)
        .collect();
    assert_eq!(retried.len(), 1, "exactly one delivery needed a retry");

    // Ben hears of the open page but never of the Finance page.
    wait_for(
        || {
            ben_receiver
                .events()
                .iter()
                .any(|(_, e, _)| e["entity"]["id"] == open_id.as_str())
        },
        "Ben's event",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ben_receiver
            .events()
            .iter()
            .all(|(_, e, _)| e["entity"]["id"] != secret_id.as_str()
                && e["data"]["parent"]["id"] != secret_id.as_str()),
        "a webhook told Ben about a page he cannot read"
    );

    // The delivery log shows both attempts of the retried delivery.
    let (status, log) = server
        .request(
            "GET",
            &format!("/platform/v1/webhooks/{subscription_id}/deliveries"),
            Some(&ada),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{log}");
    let deliveries = log["results"].as_array().unwrap();
    assert!(
        deliveries.iter().all(|d| d["status"] == "delivered"),
        "{log}"
    );
    assert!(
        deliveries
            .iter()
            .any(|d| d["attempts"] == 2 && d["last_status_code"] == 200),
        "{log}"
    );
    // Someone else's subscription is not found.
    let (status, _) = server
        .request(
            "GET",
            &format!("/platform/v1/webhooks/{subscription_id}/deliveries"),
            Some(&ben),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_by_default() {
    // Internal hosts written as literals are refused when registered (names that resolve to
    // internal addresses are refused at delivery: `webhooks`' delivery_guard tests).
    let dir = temp_dir("webhooks-ssrf");
    let data_dir = dir.to_str().unwrap().to_string();
    let server = Server::start(&dir, false).await;
    let token = super::owner_token(&data_dir);
    let (receiver, port) = Receiver::start(0).await;
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let (status, body) = server
            .request(
                "POST",
                "/platform/v1/webhooks",
                Some(&token),
                Some(&json!({"url": url})),
            )
            .await
            .unwrap();
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "validation_error", "{body}");
    }
    let (_, list) = server
        .request("GET", "/platform/v1/webhooks", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(list["results"], json!([]), "{list}");
    assert!(receiver.events().is_empty());
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
