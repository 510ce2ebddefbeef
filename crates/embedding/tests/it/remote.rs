//! `OpenAiCompatible` against loopback servers that speak (or break) OpenAI's wire format.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use embedding::{Embedder, OpenAiCompatible, OpenAiCompatibleConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::norm;

const DIMENSIONS: usize = 4;

/// How the fake server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Correct vectors, listed in reverse order (each with its index).
    Reversed,
    Status500,
    WrongDimensions,
    /// A valid answer padded with many spaces, so it is larger than a small cap.
    Padded,
    NotJson,
    DuplicateIndex,
    /// Sleeps longer than any test's timeout before answering.
    Slow,
}

/// A request body and its Authorization header, as the server saw them.
type SeenRequest = (Value, Option<String>);

#[derive(Clone)]
struct ServerState {
    behaviour: Behaviour,
    /// Every request body and Authorization header the server saw.
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// Input `i` maps to 3 at component `i % 4` and 4 at the next: length 5, so the client's
/// normalization is visible as 0.6 and 0.8.
fn vector_for(i: usize, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0.0; dimensions];
    vector[i % dimensions] = 3.0;
    vector[(i + 1) % dimensions] = 4.0;
    vector
}

async fn embeddings(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_string());
    let inputs = body["input"].as_array().unwrap().len();
    state.seen.lock().unwrap().push((body, authorization));

    let data = |dimensions: usize| -> Vec<Value> {
        (0..inputs)
            .rev()
            .map(|i| json!({"object": "embedding", "index": i, "embedding": vector_for(i, dimensions)}))
            .collect()
    };
    let answer = |data: Vec<Value>| json!({"object": "list", "data": data, "model": "m"});
    match state.behaviour {
        Behaviour::Reversed => Json(answer(data(DIMENSIONS))).into_response(),
        Behaviour::Status500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("model server exploded\n{}", "details ".repeat(200)),
        )
            .into_response(),
        Behaviour::WrongDimensions => Json(answer(data(DIMENSIONS + 1))).into_response(),
        Behaviour::Padded => {
            let body = answer(data(DIMENSIONS)).to_string();
            format!("{body}{}", " ".repeat(4096)).into_response()
        }
        Behaviour::NotJson => "<html>not json</html>".into_response(),
        Behaviour::DuplicateIndex => {
            let mut data = data(DIMENSIONS);
            for item in &mut data {
                item["index"] = json!(0);
            }
            Json(answer(data)).into_response()
        }
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Json(answer(data(DIMENSIONS))).into_response()
        }
    }
}

struct TestServer {
    base_url: String,
    state: ServerState,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(behaviour: Behaviour) -> Self {
        let state = ServerState {
            behaviour,
            seen: Arc::default(),
        };
        let router = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base_url,
            state,
            shutdown,
            task,
        }
    }

    fn client(&self, configure: impl FnOnce(&mut OpenAiCompatibleConfig)) -> OpenAiCompatible {
        let mut config = OpenAiCompatibleConfig::new(&self.base_url, "test-model", DIMENSIONS);
        configure(&mut config);
        OpenAiCompatible::new(config).unwrap()
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        // A handler still sleeping (the timeout test) would hold graceful shutdown open.
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text number {i}")).collect()
}

#[tokio::test]
async fn vectors_come_back_in_input_order_normalized() {
    let server = TestServer::start(Behaviour::Reversed).await;
    let client = server.client(|config| config.api_key = Some("sk-test".to_string()));
    assert_eq!(client.model_id(), "test-model");
    assert_eq!(client.dimensions(), DIMENSIONS);
    assert_eq!(
        client.endpoint(),
        format!("{}/v1/embeddings", server.base_url)
    );

    let vectors = client.embed(texts(6)).await.unwrap();
    assert_eq!(vectors.len(), 6);
    for (i, vector) in vectors.iter().enumerate() {
        let expected: Vec<f32> = vector_for(i, DIMENSIONS).iter().map(|x| x / 5.0).collect();
        assert_eq!(vector, &expected, "vector {i}");
        assert!((norm(vector) - 1.0).abs() < 1e-6);
    }
    assert!(client.embed(Vec::new()).await.unwrap().is_empty());

    let seen = server.state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "an empty batch must not reach the server");
    let (body, authorization) = &seen[0];
    assert_eq!(body, &json!({"model": "test-model", "input": texts(6)}));
    assert_eq!(authorization.as_deref(), Some("Bearer sk-test"));
    server.stop().await;
}

#[tokio::test]
async fn a_server_error_reports_status_and_an_excerpt() {
    let server = TestServer::start(Behaviour::Status500).await;
    let error = server.client(|_| {}).embed(texts(2)).await.unwrap_err();
    assert_eq!(error.code(), "remote_error");
    let message = error.to_string();
    assert!(message.contains("500"), "{message}");
    assert!(
        message.contains("model server exploded details"),
        "{message}"
    );
    assert!(message.len() < 400, "the excerpt must be short: {message}");
    assert!(!error.is_invalid_input());
    server.stop().await;
}

#[tokio::test]
async fn wrong_dimensions_are_refused() {
    let server = TestServer::start(Behaviour::WrongDimensions).await;
    let error = server.client(|_| {}).embed(texts(3)).await.unwrap_err();
    assert_eq!(error.code(), "dimension_mismatch");
    assert!(
        error.to_string().contains("5 dimensions; 4 were expected"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_answers_are_refused() {
    for behaviour in [Behaviour::NotJson, Behaviour::DuplicateIndex] {
        let server = TestServer::start(behaviour).await;
        let error = server.client(|_| {}).embed(texts(2)).await.unwrap_err();
        assert_eq!(error.code(), "remote_malformed_response", "{error}");
        server.stop().await;
    }
}

#[tokio::test]
async fn an_oversized_response_is_cut_off() {
    let server = TestServer::start(Behaviour::Padded).await;
    // Within the cap the padding is harmless...
    let vectors = server.client(|_| {}).embed(texts(2)).await.unwrap();
    assert_eq!(vectors.len(), 2);
    // ...past it, the response is refused.
    let error = server
        .client(|config| config.response_bytes_max = 1024)
        .embed(texts(2))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "remote_response_too_large");
    assert!(error.to_string().contains("1024 bytes"), "{error}");
    server.stop().await;
}

/// Without a Content-Length the cap must hold while streaming, not only up front.
#[tokio::test]
async fn an_oversized_chunked_response_is_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 512, " ".repeat(512));
        // Far more than the cap; the client should hang up long before the end.
        for _ in 0..64 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let mut config = OpenAiCompatibleConfig::new(&base_url, "test-model", DIMENSIONS);
    config.response_bytes_max = 2048;
    let error = OpenAiCompatible::new(config)
        .unwrap()
        .embed(texts(1))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "remote_response_too_large");
    server.abort();
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = TestServer::start(Behaviour::Slow).await;
    let client = server.client(|config| config.timeout_ms = 200);
    let started = Instant::now();
    let error = client.embed(texts(1)).await.unwrap_err();
    assert_eq!(error.code(), "remote_timeout");
    assert!(error.to_string().contains("200 ms"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    server.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = OpenAiCompatible::new(OpenAiCompatibleConfig::new(
        base_url,
        "test-model",
        DIMENSIONS,
    ))
    .unwrap();
    let error = client.embed(texts(1)).await.unwrap_err();
    assert_eq!(error.code(), "remote_unavailable", "{error}");
}

#[test]
fn the_endpoint_is_built_from_the_base_url() {
    let endpoint = |base: &str| {
        OpenAiCompatible::new(OpenAiCompatibleConfig::new(base, "m", 8))
            .map(|client| client.endpoint().to_string())
    };
    assert_eq!(
        endpoint("http://localhost:8080").unwrap(),
        "http://localhost:8080/v1/embeddings"
    );
    assert_eq!(
        endpoint("http://localhost:8080/").unwrap(),
        "http://localhost:8080/v1/embeddings"
    );
    assert_eq!(
        endpoint("https://api.example.com/v1/").unwrap(),
        "https://api.example.com/v1/embeddings"
    );
    assert_eq!(
        endpoint("https://example.com/llm").unwrap(),
        "https://example.com/llm/v1/embeddings"
    );
    for bad in [
        "ftp://example.com",
        "not a url",
        "http://example.com/?key=1",
    ] {
        assert_eq!(endpoint(bad).unwrap_err().code(), "invalid_config", "{bad}");
    }
    let zero = OpenAiCompatible::new(OpenAiCompatibleConfig::new("http://localhost", "m", 0));
    assert_eq!(zero.unwrap_err().code(), "invalid_config");
}

#[test]
fn debug_output_hides_the_api_key() {
    let mut config = OpenAiCompatibleConfig::new("http://localhost", "m", 8);
    config.api_key = Some("sk-very-secret".to_string());
    let client = OpenAiCompatible::new(config.clone()).unwrap();
    assert!(!format!("{config:?}").contains("sk-very-secret"));
    assert!(!format!("{client:?}").contains("sk-very-secret"));
}
