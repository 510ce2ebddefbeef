//! A webhook whose URL's host is internal without any DNS (an IP literal in any spelling the URL
//! parser accepts, or `localhost`) is refused when it is registered, with a validation error that
//! names the URL and the reason, unless the operator allowed private networks. Host names are
//! left to delivery, which checks what they resolve to.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{Harness, assert_error};

const REFUSED: &[(&str, &str)] = &[
    ("http://127.0.0.1:9/hook", "a loopback address"),
    ("http://2130706433/", "a loopback address"),
    ("http://0x7f.1/", "a loopback address"),
    ("http://0177.0.0.1/", "a loopback address"),
    ("http://[::1]/", "a loopback address"),
    ("http://[::127.0.0.1]/x", "a loopback address"),
    (
        "http://[::ffff:127.0.0.1]/",
        "(IPv4-mapped), a loopback address",
    ),
    ("http://[64:ff9b::7f00:1]/", "(NAT64), a loopback address"),
    ("http://[2002:7f00:1::1]/", "(6to4), a loopback address"),
    ("http://[2001::1]/", "Teredo"),
    ("http://[::a9fe:a9fe]/", "embeds 169.254.169.254"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://10.0.0.1/", "private-network"),
    ("http://[fd00::1]/", "private-network"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://0/", "unspecified"),
    ("http://localhost:8080/hook", "loopback name"),
    ("http://hooks.localhost/", "loopback name"),
];

async fn register(harness: &Harness, url: &str) -> (StatusCode, serde_json::Value) {
    harness
        .call(
            &harness.ada,
            Method::POST,
            "/platform/v1/webhooks",
            Some(json!({"url": url, "event_types": ["page.created"]})),
        )
        .await
}

/// The harness's workspace, served by a router whose workspace allows private networks.
fn allowing_private_networks(harness: &Harness) -> Harness {
    let workspace = harness
        .workspace
        .clone()
        .allow_webhook_private_networks(true);
    Harness {
        router: http_api::router(workspace.clone(), None, http_api::Config::default()),
        workspace,
        ada: harness.ada.clone(),
        ben: harness.ben.clone(),
        cy: harness.cy.clone(),
        bot: harness.bot.clone(),
        ids: harness.ids.clone(),
    }
}

#[tokio::test]
async fn internal_hosts_are_refused_at_registration_naming_url_and_reason() {
    let harness = Harness::new().await;
    for (url, reason) in REFUSED {
        let (status, body) = register(&harness, url).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("body.url"), "{url}: {message}");
        assert!(message.contains(&format!("`{url}`")), "{url}: {message}");
        assert!(message.contains(reason), "{url}: {message}");
    }
    let list = harness
        .ok(&harness.ada, Method::GET, "/platform/v1/webhooks", None)
        .await;
    assert_eq!(list["results"], json!([]), "{list}");
}

#[tokio::test]
async fn public_literals_and_host_names_are_registered() {
    let harness = Harness::new().await;
    // Names are not resolved here: delivery checks their addresses each time it connects.
    for url in [
        "https://example.com/hook",
        "https://internal.example.com/hook",
        "https://8.8.8.8/hook",
        "https://[2606:4700::1111]/hook",
        "https://[::ffff:8.8.8.8]/hook",
    ] {
        let (status, body) = register(&harness, url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
    }
}

#[tokio::test]
async fn allowing_private_networks_registers_internal_hosts() {
    let harness = allowing_private_networks(&Harness::new().await);
    for (url, _) in REFUSED {
        let (status, body) = register(&harness, url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
    }
}

#[tokio::test]
async fn a_url_the_parser_rejects_is_refused_at_registration() {
    let harness = Harness::new().await;
    for url in ["http://[::1/", "http://", "https://exa%mple.com/"] {
        let (status, body) = register(&harness, url).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("not a URL"), "{url}: {message}");
    }
}
