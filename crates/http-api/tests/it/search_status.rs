//! The search index's status holds workspace-wide counts: owners read it, nobody else.

use axum::http::{Method, StatusCode};

use super::{Harness, assert_error};

#[tokio::test]
async fn only_owners_read_the_search_status() {
    let h = Harness::new().await;
    for (who, token) in [
        ("guest", &h.cy),
        ("member", &h.ben),
        ("integration", &h.bot),
    ] {
        let (status, body) = h
            .call(token, Method::GET, "/platform/v1/search/status", None)
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
        assert!(body.get("chunks").is_none(), "{who}: {body}");
    }
    let status = h
        .ok(&h.ada, Method::GET, "/platform/v1/search/status", None)
        .await;
    assert_eq!(status["object"], "search_status");
}
