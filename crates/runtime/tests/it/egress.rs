//! Outbound HTTP: the origin allowlist and address classes (pure), and real requests through
//! `wasi:http` (the probe's `http` op uses the SDK's `http::send`) to a loopback server.

use std::net::IpAddr;

use runtime::{
    AddressClass, EgressPolicy, HostPattern, Origin, RunStatus, Runtime, Scheme, Services,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{guest_error, invoke, probe_bytes, refused_as_unapproved, test_config};

fn allows(policy: &[&str], url: &str) -> bool {
    EgressPolicy::parse(policy)
        .unwrap()
        .allows(&url::Url::parse(url).unwrap())
}

#[test]
fn origins_match_scheme_host_and_port_exactly() {
    let policy = ["https://api.example.com"];
    assert!(allows(&policy, "https://api.example.com/v1/items?x=1"));
    assert!(allows(&policy, "https://API.Example.com:443/"));
    assert!(!allows(&policy, "http://api.example.com/"), "scheme");
    assert!(!allows(&policy, "https://api.example.com:8443/"), "port");
    assert!(!allows(&policy, "https://example.com/"), "parent domain");
    assert!(
        !allows(&policy, "https://evil.api.example.com/"),
        "subdomain"
    );
    assert!(
        !allows(&policy, "https://api.example.com.evil.net/"),
        "suffix trick"
    );
    assert!(
        !allows(&policy, "https://api.example.com@evil.net/"),
        "userinfo trick"
    );
}

#[test]
fn wildcards_match_only_subdomains_when_declared() {
    let policy = ["https://*.example.com"];
    assert!(allows(&policy, "https://api.example.com/"));
    assert!(allows(&policy, "https://a.b.example.com/"));
    assert!(!allows(&policy, "https://example.com/"));
    assert!(!allows(&policy, "https://badexample.com/"));
    assert!(!allows(&policy, "https://api.example.com:444/"));
    assert_eq!(
        Origin::parse("https://*.example.com:8443").unwrap(),
        Origin {
            scheme: Scheme::Https,
            host: HostPattern::SubdomainsOf("example.com".into()),
            port: 8443,
        }
    );
}

#[test]
fn malformed_origins_are_refused_with_a_reason() {
    for (origin, reason) in [
        ("api.example.com", "no scheme"),
        ("ftp://api.example.com", "http or https"),
        ("https://api.example.com/path", "only a scheme"),
        ("https://api.example.com?q=1", "only a scheme"),
        ("https://user@api.example.com", "only a scheme"),
        ("https://*.com", "two labels"),
    ] {
        let error = Origin::parse(origin).unwrap_err();
        assert!(error.contains(reason), "{origin}: {error}");
    }
}

/// The runtime judges addresses by the `egress` policy (its own suite has every range); these
/// are the ones an integration is most likely to be aimed at.
#[test]
fn addresses_are_classified() {
    let class = |text: &str| AddressClass::of(text.parse::<IpAddr>().unwrap());
    assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
    assert_eq!(class("::1"), AddressClass::Loopback);
    assert_eq!(class("::ffff:127.0.0.1"), AddressClass::Loopback);
    assert_eq!(class("::127.0.0.1"), AddressClass::Loopback);
    assert_eq!(class("64:ff9b::7f00:1"), AddressClass::Loopback);
    assert_eq!(class("2002:7f00:1::1"), AddressClass::Loopback);
    assert_eq!(class("10.0.0.8"), AddressClass::Private);
    assert_eq!(class("172.20.1.1"), AddressClass::Private);
    assert_eq!(class("192.168.0.1"), AddressClass::Private);
    assert_eq!(class("100.100.100.200"), AddressClass::SharedAddressSpace);
    assert_eq!(class("fd00:ec2::254"), AddressClass::Private);
    assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
    assert_eq!(class("::a9fe:a9fe"), AddressClass::LinkLocal);
    assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
    assert_eq!(class("0.0.0.0"), AddressClass::Unspecified);
    assert_eq!(class("255.255.255.255"), AddressClass::Broadcast);
    assert_eq!(class("240.0.0.1"), AddressClass::Reserved);
    assert_eq!(class("198.18.0.1"), AddressClass::Benchmarking);
    assert_eq!(class("224.0.0.1"), AddressClass::Multicast);
    assert_eq!(class("2001::1"), AddressClass::Teredo);
    assert_eq!(class("93.184.216.34"), AddressClass::Public);
    assert_eq!(class("2606:4700::1111"), AddressClass::Public);
}

/// Serves one canned response on loopback and returns its port.
async fn one_shot_server(body: &'static str) -> u16 {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_server(response).await.0
}

/// Answers one connection with `response` as it is, and returns its port and what the request's
/// head was (empty when nothing connected).
async fn raw_server(response: String) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return String::new();
        };
        let request = read_request(&mut socket).await;
        let _ = socket.write_all(response.as_bytes()).await;
        request
    });
    (port, served)
}

/// Reads a request's head and its `content-length` bytes of body (the requests here are small).
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return text,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// A runtime of its own (its HTTP client belongs to this test's executor) with the probe loaded.
fn runtime_and_probe(allow_private_networks: bool) -> (Runtime, runtime::LoadedComponent) {
    let runtime = Runtime::new(runtime::RuntimeConfig {
        allow_private_networks,
        ..test_config()
    })
    .unwrap();
    let component = runtime.load(probe_bytes()).unwrap();
    (runtime, component)
}

fn http_request(url: String, origins: &[String]) -> runtime::RunRequest {
    let mut request = invoke(json!({"op": "http", "url": url}), Services::default());
    request.grants.http = Some(EgressPolicy::parse(origins).unwrap());
    request
}

#[tokio::test]
async fn an_approved_origin_is_reached_and_recorded() {
    let (runtime, component) = runtime_and_probe(true);
    let port = one_shot_server("hello").await;
    let origin = format!("http://127.0.0.1:{port}");
    let outcome = runtime
        .run(
            &component,
            http_request(format!("{origin}/ping?key=k"), &[origin]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    let attempt = &outcome.record.outbound_requests[0];
    assert!(attempt.allowed);
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.response_bytes, 5);
    assert_eq!(attempt.url, format!("http://127.0.0.1:{port}/ping"));
    match outcome.output {
        Some(runtime::Output::Json(text)) => {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap()["body"],
                "hello"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn internal_addresses_are_refused_even_when_declared() {
    let (runtime, component) = runtime_and_probe(false);
    let port = one_shot_server("secret").await;
    for host in ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"] {
        let origin = format!("http://{host}:{port}");
        let outcome = runtime
            .run(&component, http_request(format!("{origin}/"), &[origin]))
            .await
            .unwrap();
        let message = guest_error(&outcome);
        assert!(message.starts_with("forbidden"), "{host}: {message}");
        assert!(
            message.contains("destination-IP-prohibited"),
            "{host}: {message}"
        );
        let attempt = &outcome.record.outbound_requests[0];
        assert!(!attempt.allowed);
        let refusal = attempt.refusal.as_deref().unwrap();
        assert!(refusal.contains("loopback"), "{host}: {refusal}");
    }
}

#[tokio::test]
async fn the_request_count_is_capped() {
    let (runtime, component) = runtime_and_probe(false);
    let origin = "https://api.example.com".to_string();
    let mut request = http_request(format!("{origin}/"), &[origin]);
    request.limits.outbound_requests_max = 0;
    let outcome = runtime.run(&component, request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("limit-exceeded"), "{message}");
    assert!(message.contains("connection-limit-reached"), "{message}");
    assert_eq!(outcome.record.outbound_requests.len(), 1);
    assert!(!outcome.record.outbound_requests[0].allowed);
}

#[tokio::test]
async fn a_response_over_its_cap_is_dropped_but_recorded_as_sent() {
    let (runtime, component) = runtime_and_probe(true);
    let port = one_shot_server("far too long a body").await;
    let origin = format!("http://127.0.0.1:{port}");
    let mut request = http_request(format!("{origin}/"), &[origin]);
    request.limits.http_response_bytes_max = 4;
    let outcome = runtime.run(&component, request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("limit-exceeded"), "{message}");
    let attempt = &outcome.record.outbound_requests[0];
    assert!(attempt.allowed, "the request went out");
    assert!(attempt.refusal.as_deref().unwrap().contains("4 bytes"));
}

#[tokio::test]
async fn a_response_body_over_its_cap_fails_mid_stream() {
    let (runtime, component) = runtime_and_probe(true);
    // Chunked: no length up front, so the cap is found while the body streams.
    let (port, _served) = raw_server(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         3\r\nfar\r\n10\r\n too long a body\r\n0\r\n\r\n"
            .to_string(),
    )
    .await;
    let origin = format!("http://127.0.0.1:{port}");
    let mut request = http_request(format!("{origin}/"), &[origin]);
    request.limits.http_response_bytes_max = 4;
    let outcome = runtime.run(&component, request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("limit-exceeded"), "{message}");
    let attempt = &outcome.record.outbound_requests[0];
    assert!(attempt.allowed, "the request went out");
    assert_eq!(attempt.status, Some(200));
    assert!(attempt.response_bytes <= 4, "{}", attempt.response_bytes);
    assert!(attempt.refusal.as_deref().unwrap().contains("4 bytes"));
}

#[tokio::test]
async fn a_request_body_over_its_cap_is_never_sent() {
    let (runtime, component) = runtime_and_probe(true);
    let (port, served) = raw_server(String::new()).await;
    let origin = format!("http://127.0.0.1:{port}");
    let mut request = invoke(
        json!({"op": "http", "method": "post", "url": format!("{origin}/"), "body": "far too long"}),
        Services::default(),
    );
    request.grants.http = Some(EgressPolicy::parse(&[origin]).unwrap());
    request.limits.http_request_bytes_max = 4;
    let outcome = runtime.run(&component, request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("limit-exceeded"), "{message}");
    assert!(message.contains("HTTP-request-body-size"), "{message}");
    let attempt = &outcome.record.outbound_requests[0];
    assert!(!attempt.allowed);
    assert_eq!(attempt.method, "POST");
    assert!(attempt.refusal.as_deref().unwrap().contains("request body"));
    served.abort();
    assert!(served.await.is_err(), "nothing connected");
}

#[tokio::test]
async fn a_request_body_and_headers_reach_the_server() {
    let (runtime, component) = runtime_and_probe(true);
    let (port, served) = raw_server(
        "HTTP/1.1 201 Created\r\ncontent-length: 2\r\nx-answer: 42\r\nconnection: close\r\n\r\nok"
            .to_string(),
    )
    .await;
    let origin = format!("http://127.0.0.1:{port}");
    let mut request = invoke(
        json!({"op": "http", "method": "post", "url": format!("{origin}/items?key=k"), "body": "hello"}),
        Services::default(),
    );
    request.grants.http = Some(EgressPolicy::parse(&[origin]).unwrap());
    let outcome = runtime.run(&component, request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    let head = served.await.unwrap();
    assert!(head.starts_with("POST /items?key=k HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("x-probe: 1\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\nhello"), "{head}");
    let attempt = &outcome.record.outbound_requests[0];
    assert_eq!(
        (
            attempt.status,
            attempt.request_bytes,
            attempt.response_bytes
        ),
        (Some(201), 5, 2)
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (runtime, component) = runtime_and_probe(true);
    let (port, _served) = raw_server(
        "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n"
            .to_string(),
    )
    .await;
    let origin = format!("http://127.0.0.1:{port}");
    let outcome = runtime
        .run(&component, http_request(format!("{origin}/"), &[origin]))
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    match outcome.output {
        Some(runtime::Output::Json(text)) => {
            let output: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(output["status"], 302);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(outcome.record.outbound_requests.len(), 1);
}

#[tokio::test]
async fn a_declared_wildcard_reaches_subdomains_but_not_the_apex() {
    // `.invalid` never resolves (RFC 6761): a subdomain passes the allowlist and fails at DNS,
    // the apex is refused by the allowlist before any lookup.
    let (runtime, component) = runtime_and_probe(false);
    let policy = ["http://*.trellis.invalid".to_string()];
    let mut request = http_request("http://api.trellis.invalid/".into(), &policy);
    // A resolver that never answers ends the request, not the run.
    request.limits.http_request_ms_max = 1_000;
    let outcome = runtime.run(&component, request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(!message.starts_with("forbidden"), "{message}");
    let attempt = &outcome.record.outbound_requests[0];
    assert!(attempt.allowed, "the allowlist let it through");
    assert!(outcome.record.denials.is_empty());

    let outcome = runtime
        .run(
            &component,
            http_request("http://trellis.invalid/".into(), &policy),
        )
        .await
        .unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("forbidden"), "{message}");
    assert!(message.contains("HTTP-request-denied"), "{message}");
    refused_as_unapproved(&outcome);
}
