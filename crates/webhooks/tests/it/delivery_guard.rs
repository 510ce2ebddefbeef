//! Delivery refuses a subscription whose host is decided without DNS (an internal IP literal in
//! any spelling, or `localhost`) before it connects: a subscription stored before registration
//! checked hosts, or under a server that allowed private networks then, is still held back.

use std::time::Duration;

use webhooks::{Config, Sender};
use workspace::{AttemptOutcome, Subscription};

fn subscription(url: String) -> Subscription {
    Subscription {
        id: document::Id::new(),
        url,
        verification_token: "secret_test".into(),
        event_types: Vec::new(),
        data_source_id: None,
        owner_user_id: None,
        owner_integration_id: None,
        active: true,
        created_time: 0,
    }
}

#[tokio::test]
async fn internal_literal_hosts_are_refused_before_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sender = Sender::new(&Config::default()).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::127.0.0.1]:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[64:ff9b::7f00:1]:{port}/hook"),
        format!("http://[2002:7f00:1::1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://198.18.0.1:{port}/hook"),
        format!("http://240.0.0.1:{port}/hook"),
    ] {
        match sender
            .send(&subscription(url.clone()), b"{}".to_vec())
            .await
        {
            AttemptOutcome::Failed {
                status_code: None,
                error,
            } => assert!(error.starts_with("refused: "), "{url}: {error}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(accepted.is_err(), "a refused delivery connected");
}

#[tokio::test]
async fn a_refusal_says_what_the_address_embeds() {
    let sender = Sender::new(&Config::default()).unwrap();
    let outcome = sender
        .send(
            &subscription("http://[::ffff:169.254.169.254]/latest".into()),
            Vec::new(),
        )
        .await;
    let AttemptOutcome::Failed { error, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        error.contains("embeds 169.254.169.254 (IPv4-mapped), a link-local address"),
        "{error}"
    );
}

#[tokio::test]
async fn allowing_private_networks_lets_a_loopback_delivery_through() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await;
        let _ = socket
            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            .await;
    });
    let sender = Sender::new(&Config {
        allow_private_networks: true,
        ..Config::default()
    })
    .unwrap();
    let outcome = sender
        .send(
            &subscription(format!("http://127.0.0.1:{port}/hook")),
            b"{}".to_vec(),
        )
        .await;
    assert!(
        matches!(outcome, AttemptOutcome::Delivered { status_code: 204 }),
        "{outcome:?}"
    );
    served.await.unwrap();
}
