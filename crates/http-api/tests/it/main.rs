//! Router tests, in process: requests go through `tower::ServiceExt::oneshot` into the real
//! router, service and an in-memory SQLite store. No socket, no sleep.

mod access_agreement;
mod edge;
mod egress_registration;
mod endpoints;
mod errors;
mod integrations;
mod login;
mod provisional;
mod search_status;
mod server;
mod tokens;

#[path = "../../../runtime/tests/it/guests.rs"]
#[allow(dead_code)]
mod guests;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use storage_sql::Store;
use tower::ServiceExt;
use workspace::{Capabilities, NewUser, Role, TokenSubject, Workspace};

pub struct Harness {
    pub router: Router,
    pub workspace: Workspace,
    pub ada: String,
    pub ben: String,
    pub cy: String,
    pub bot: String,
    pub ids: std::collections::HashMap<&'static str, String>,
}

impl Harness {
    /// A workspace with an owner, a member, a guest and an integration, and no content.
    pub async fn new() -> Harness {
        Harness::with_config(http_api::Config::default()).await
    }

    pub async fn with_config(config: http_api::Config) -> Harness {
        Harness::build(config, false).await
    }

    /// With the integration platform and its worker running.
    pub async fn with_platform() -> Harness {
        Harness::build(http_api::Config::default(), true).await
    }

    /// With content search on another embedder.
    pub async fn with_embedder(embedder: std::sync::Arc<dyn embedding::Embedder>) -> Harness {
        Harness::build_with(http_api::Config::default(), false, embedder).await
    }

    async fn build(config: http_api::Config, platform: bool) -> Harness {
        // Content search on, in memory, with the model-free hashing embedder: these tests are
        // about access and API shapes; the real model is tested in `trellis`'s suite.
        let embedder = std::sync::Arc::new(embedding::HashingEmbedder::new(64).unwrap());
        Harness::build_with(config, platform, embedder).await
    }

    async fn build_with(
        config: http_api::Config,
        platform: bool,
        embedder: std::sync::Arc<dyn embedding::Embedder>,
    ) -> Harness {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let workspace = Workspace::new(store)
            .await
            .unwrap()
            .enable_content_search(None, embedder, &|_, _| {})
            .await
            .unwrap();
        let mut ids = std::collections::HashMap::new();
        let mut tokens = Vec::new();
        for (key, email, role) in [
            ("ada", "ada@example.com", Role::Owner),
            ("ben", "ben@example.com", Role::Member),
            ("cy", "cy@example.com", Role::Guest),
        ] {
            let user = workspace
                .create_user(NewUser {
                    email: email.into(),
                    name: key.into(),
                    role,
                    password: Some("password123".into()),
                })
                .await
                .unwrap();
            ids.insert(key, user.id.to_string());
            tokens.push(
                workspace
                    .create_token(TokenSubject::User(user.id), "test")
                    .await
                    .unwrap(),
            );
        }
        let integration = workspace
            .ensure_integration("Robot", Capabilities::ALL, None)
            .await
            .unwrap();
        ids.insert("bot", integration.id.to_string());
        ids.insert("bot_user", integration.bot_user_id.to_string());
        let bot = workspace
            .create_token(TokenSubject::Integration(integration.id), "test")
            .await
            .unwrap();
        let platform = platform.then(|| {
            let runtime = runtime::Runtime::new(runtime::RuntimeConfig {
                cache_dir: Some(std::env::temp_dir().join("trellis-http-api-test-components")),
                concurrent_runs_max: 8,
                ..Default::default()
            })
            .unwrap();
            let platform =
                ::integrations::Platform::new(workspace.clone(), runtime, Default::default());
            let worker = platform.clone();
            tokio::spawn(async move {
                worker
                    .run_worker(
                        std::time::Duration::from_millis(5),
                        std::future::pending::<()>(),
                    )
                    .await
            });
            platform
        });
        let router = http_api::router(workspace.clone(), platform, config);
        Harness {
            router,
            workspace,
            ada: tokens[0].clone(),
            ben: tokens[1].clone(),
            cy: tokens[2].clone(),
            bot,
            ids,
        }
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.raw(token, method, path, body.map(|b| b.to_string()))
            .await
    }

    pub async fn raw(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("Notion-Version", "2025-09-03");
        if !token.is_empty() {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .body(Body::from(body))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let mut value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        // Every error carries its own request id (`edge` tests check it); without it, two
        // answers compare equal when they say the same.
        if let Some(object) = value.as_object_mut() {
            object.remove("request_id");
        }
        (status, value)
    }

    pub async fn ok(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(token, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
        value
    }

    /// Creates a top-level page as Ada.
    pub async fn page(&self, title: &str) -> String {
        let page = self
            .ok(&self.ada, Method::POST, "/v1/pages", Some(json!({"parent": {"workspace": true}, "properties": {"title": {"title": text(title)}}})))
            .await;
        page["id"].as_str().unwrap().to_string()
    }

    pub async fn subpage(&self, token: &str, parent: &str, title: &str) -> String {
        let page = self
            .ok(token, Method::POST, "/v1/pages", Some(json!({"parent": {"page_id": parent}, "properties": {"title": {"title": text(title)}}})))
            .await;
        page["id"].as_str().unwrap().to_string()
    }
}

pub fn text(content: &str) -> Value {
    json!([{"type": "text", "text": {"content": content}}])
}

pub fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["object"], "error", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected_status.as_u16(), "{body}");
}
