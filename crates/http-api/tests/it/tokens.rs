//! API tokens: people create, list and revoke their own; owners anyone's. Listings never hold
//! a secret, and revoked or expired tokens are refused as unknown ones are.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use workspace::{TokenRecord, TokenSubject};

use super::{Harness, assert_error};

const UNKNOWN: &str = "trellis_0000000000000000000000000000000000000000000000000000000000000000";

async fn me(h: &Harness, token: &str) -> (StatusCode, Value) {
    h.call(token, Method::GET, "/v1/users/me", None).await
}

fn names(list: &Value) -> Vec<&str> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn people_create_list_and_revoke_their_own_tokens() {
    let h = Harness::new().await;
    let created = h
        .ok(
            &h.ben,
            Method::POST,
            "/platform/v1/tokens",
            Some(json!({"name": "laptop", "expires_in_days": 30})),
        )
        .await;
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("trellis_"), "{created}");
    assert_eq!(created["object"], "token");
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["subject"],
        json!({"type": "user", "user_id": h.ids["ben"]})
    );
    let created_ms = document::time::parse_instant(created["created_time"].as_str().unwrap())
        .unwrap()
        .ms;
    let expires_ms = document::time::parse_instant(created["expires_time"].as_str().unwrap())
        .unwrap()
        .ms;
    assert_eq!(expires_ms - created_ms, 30 * document::time::DAY_MS);
    assert_eq!(me(&h, &secret).await.0, StatusCode::OK);

    let list = h.ok(&h.ben, Method::GET, "/platform/v1/tokens", None).await;
    assert_eq!(list["object"], "list");
    assert_eq!(names(&list), ["test", "laptop"]);
    // Neither the secret nor the hash it is stored as is ever listed.
    let text = list.to_string();
    assert!(!text.contains(&secret), "{list}");
    assert!(!text.contains(&workspace::hash_token(&secret)), "{list}");
    for token in list["results"].as_array().unwrap() {
        assert!(token.get("token").is_none(), "{token}");
        assert_eq!(token["revoked_time"], Value::Null);
    }
    // Pages of one.
    let first = h
        .ok(&h.ben, Method::GET, "/platform/v1/tokens?page_size=1", None)
        .await;
    assert_eq!(names(&first), ["test"]);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = h
        .ok(
            &h.ben,
            Method::GET,
            &format!("/platform/v1/tokens?page_size=1&start_cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(names(&second), ["laptop"]);
    assert_eq!(second["has_more"], false);

    let id = created["id"].as_str().unwrap();
    let revoked = h
        .ok(
            &h.ben,
            Method::DELETE,
            &format!("/platform/v1/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_time"].is_string(), "{revoked}");
    assert!(revoked.get("token").is_none());
    // It stops working at once, with the answer an unknown token gets.
    let (status, body) = me(&h, &secret).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!((status, body), me(&h, UNKNOWN).await);
    // Ben's other token still works.
    assert_eq!(me(&h, &h.ben).await.0, StatusCode::OK);
}

#[tokio::test]
async fn owners_manage_anyones_tokens_and_others_only_their_own() {
    let h = Harness::new().await;
    let (ada, ben) = (&h.ids["ada"], &h.ids["ben"]);
    let (status, body) = h
        .call(
            &h.ben,
            Method::GET,
            &format!("/platform/v1/tokens?user_id={ada}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
    h.ok(
        &h.ben,
        Method::GET,
        &format!("/platform/v1/tokens?user_id={ben}"),
        None,
    )
    .await;
    // A guest manages their own tokens too.
    let cy = h.ok(&h.cy, Method::GET, "/platform/v1/tokens", None).await;
    assert_eq!(names(&cy), ["test"]);

    let adas = h.ok(&h.ada, Method::GET, "/platform/v1/tokens", None).await;
    let ada_token = adas["results"][0]["id"].as_str().unwrap();
    // Another's token is not found by a member, and keeps working.
    let (status, body) = h
        .call(
            &h.ben,
            Method::DELETE,
            &format!("/platform/v1/tokens/{ada_token}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "object_not_found");
    assert_eq!(me(&h, &h.ada).await.0, StatusCode::OK);

    // The owner lists and revokes Ben's.
    let bens = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/platform/v1/tokens?user_id={ben}"),
            None,
        )
        .await;
    assert_eq!(names(&bens), ["test"]);
    let ben_token = bens["results"][0]["id"].as_str().unwrap();
    h.ok(
        &h.ada,
        Method::DELETE,
        &format!("/platform/v1/tokens/{ben_token}"),
        None,
    )
    .await;
    assert_eq!(me(&h, &h.ben).await.0, StatusCode::UNAUTHORIZED);

    // An integration's token manages no tokens.
    for (method, body) in [
        (Method::GET, None),
        (Method::POST, Some(json!({"name": "mine"}))),
    ] {
        let (status, body) = h.call(&h.bot, method, "/platform/v1/tokens", body).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
    }
}

#[tokio::test]
async fn token_inputs_are_validated() {
    let h = Harness::new().await;
    for body in [
        json!({"name": "t", "expires_in_days": 0}),
        json!({"name": "t", "expires_in_days": -1}),
        json!({"name": "t", "expires_in_days": 3651}),
        json!({"name": "t", "expires_in_days": 1.5}),
        json!({"name": "t", "expires_in_days": "30"}),
    ] {
        let (status, answer) = h
            .call(
                &h.ben,
                Method::POST,
                "/platform/v1/tokens",
                Some(body.clone()),
            )
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "validation_error");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("body.expires_in_days") && message.contains("between 1 and 3650"),
            "{body}: {message}"
        );
    }
    for body in [
        json!({}),
        json!({"name": 7}),
        json!({"name": "  "}),
        json!({"name": "n".repeat(101)}),
    ] {
        let (status, answer) = h
            .call(
                &h.ben,
                Method::POST,
                "/platform/v1/tokens",
                Some(body.clone()),
            )
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "validation_error");
        assert!(
            answer["message"].as_str().unwrap().contains("body.name"),
            "{body}: {answer}"
        );
    }
    for path in [
        "/platform/v1/tokens?user_id=nobody",
        "/platform/v1/tokens?page_size=0",
        "/platform/v1/tokens?start_cursor=nowhere",
    ] {
        let (status, answer) = h.call(&h.ben, Method::GET, path, None).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "validation_error");
    }
    let (status, answer) = h
        .call(
            &h.ben,
            Method::DELETE,
            "/platform/v1/tokens/not-an-id",
            None,
        )
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "validation_error");
    let (status, answer) = h
        .call(
            &h.ben,
            Method::DELETE,
            &format!("/platform/v1/tokens/{}", document::Id::new()),
            None,
        )
        .await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "object_not_found");
}

#[tokio::test]
async fn expired_tokens_are_refused_as_unknown_ones() {
    let h = Harness::new().await;
    // Written as the store would hold a 1-day token two days after it was made.
    let secret = "trellis_1111111111111111111111111111111111111111111111111111111111111111";
    let now = workspace::clock::now_ms();
    let day_ms = document::time::DAY_MS;
    let mut tx = h.workspace.store().write().await.unwrap();
    tx.insert_token(
        &workspace::hash_token(secret),
        &TokenRecord {
            id: document::Id::new(),
            subject: TokenSubject::User(document::Id::parse(&h.ids["ben"]).unwrap()),
            name: "old".into(),
            created_time: now - 2 * day_ms,
            expires_time: Some(now - day_ms),
            revoked_time: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(me(&h, secret).await, me(&h, UNKNOWN).await);
    let list = h.ok(&h.ben, Method::GET, "/platform/v1/tokens", None).await;
    let old = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "old")
        .unwrap();
    assert_eq!(old["status"], "expired");
}
