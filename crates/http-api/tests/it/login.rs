//! Signing in with a password: the limits on failed attempts per account and per client
//! address, what an unknown email answers, and the token a sign-in gives.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use workspace::{LOGIN_FAILURE_WINDOW_MS, LOGIN_FAILURES_PER_ACCOUNT_MAX, NewUser, Role};

use super::{Harness, assert_error};

struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

/// `POST /platform/v1/login` from `address` (`None`: no connection info, as a router served
/// without it sees).
async fn login(
    router: &axum::Router,
    address: Option<&str>,
    email: &str,
    password: &str,
) -> Answer {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/platform/v1/login")
        .header("Content-Type", "application/json")
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    if let Some(address) = address {
        request
            .extensions_mut()
            .insert(ConnectInfo(address.parse::<SocketAddr>().unwrap()));
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|value| value.to_str().unwrap().parse().unwrap());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // Each answer has its own request id; the rest is what must not tell cases apart.
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    Answer {
        status,
        retry_after,
        body,
    }
}

fn assert_rate_limited(answer: &Answer) {
    assert_error(
        answer.status,
        &answer.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let seconds = answer.retry_after.expect("a Retry-After header");
    assert!(
        (1..=LOGIN_FAILURE_WINDOW_MS / 1000).contains(&seconds),
        "Retry-After: {seconds}"
    );
}

#[tokio::test]
async fn a_sign_in_gives_a_working_token() {
    let h = Harness::new().await;
    let answer = login(
        &h.router,
        Some("192.0.2.1:5000"),
        "ADA@example.com",
        "password123",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["object"], "token");
    assert_eq!(answer.body["user_id"], h.ids["ada"].as_str());
    assert_eq!(answer.body["name"], "login");
    assert_eq!(answer.body["expires_time"], Value::Null);
    let token = answer.body["token"].as_str().unwrap();
    let me = h.ok(token, Method::GET, "/v1/users/me", None).await;
    assert_eq!(me["id"], h.ids["ada"].as_str());
}

#[tokio::test]
async fn unknown_emails_answer_as_wrong_passwords_do() {
    let h = Harness::new().await;
    h.workspace
        .create_user(NewUser {
            email: "dee@example.com".into(),
            name: "Dee".into(),
            role: Role::Member,
            password: None,
        })
        .await
        .unwrap();
    let wrong = login(&h.router, None, "ada@example.com", "not the password").await;
    assert_error(
        wrong.status,
        &wrong.body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    for email in ["nobody@example.com", "dee@example.com"] {
        let answer = login(&h.router, None, email, "not the password").await;
        assert_eq!(
            (answer.status, &answer.body),
            (wrong.status, &wrong.body),
            "{email}"
        );
    }
}

#[tokio::test]
async fn an_account_is_limited_after_its_failures_but_not_for_its_usual_address() {
    let h = Harness::new().await;
    // Ada signed in from home before the attack.
    let home = Some("198.51.100.7:40000");
    assert_eq!(
        login(&h.router, home, "ada@example.com", "password123")
            .await
            .status,
        StatusCode::OK
    );
    // Someone else guesses (here without connection info: all such callers share one key).
    for _ in 0..LOGIN_FAILURES_PER_ACCOUNT_MAX {
        let answer = login(&h.router, None, "ada@example.com", "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
    let refused = login(&h.router, None, "ada@example.com", "guess").await;
    assert_rate_limited(&refused);
    // The right password from a new address is refused too: the account is locked for it.
    let elsewhere = Some("203.0.113.9:1234");
    assert_rate_limited(&login(&h.router, elsewhere, "ada@example.com", "password123").await);
    // Ada's usual address still gets in, on another port (a new connection).
    let home_again = Some("198.51.100.7:40001");
    let answer = login(&h.router, home_again, "ada@example.com", "password123").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The guesser's address is below its own limit: other accounts still sign in from it.
    assert_eq!(
        login(&h.router, None, "ben@example.com", "password123")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_address_is_limited_after_its_failures_even_when_they_arrive_at_once() {
    let h = Harness::new().await;
    // 40 guesses at once, each at a new email and from a new address of one IPv6 /64: the
    // first 30 are counted before any answer comes, the rest are refused.
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let router = h.router.clone();
        guesses.spawn(async move {
            let address = format!("[2001:db8:0:1::{:x}]:443", i + 1);
            login(
                &router,
                Some(&address),
                &format!("user{i}@example.com"),
                "guess",
            )
            .await
        });
    }
    let mut refused = 0;
    while let Some(answer) = guesses.join_next().await {
        let answer = answer.unwrap();
        match answer.status {
            StatusCode::UNAUTHORIZED => {}
            _ => {
                assert_rate_limited(&answer);
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 10);
    // The right password from the same /64 is refused; from another network it is not.
    let same_network = Some("[2001:db8:0:1::ffff]:443");
    assert_rate_limited(&login(&h.router, same_network, "ada@example.com", "password123").await);
    let other_network = Some("[2001:db8:0:2::1]:443");
    assert_eq!(
        login(&h.router, other_network, "ada@example.com", "password123")
            .await
            .status,
        StatusCode::OK
    );
}
