//! JavaScript integrations: `integrations/echo-js` and `integrations/fetch-js`, built with
//! componentize-js, run end to end; fetch-js's `fetch` goes out through `wasi:http` to a
//! loopback server.
//!
//! Building them needs Node.js and npm. Without them these tests fail rather than skip, so that a
//! machine that cannot build JavaScript guests never reports them as passing; CI installs both.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use runtime::{
    Capability, EgressPolicy, Grants, LoadedComponent, Output, RunRequest, RunStatus, Runtime,
    RuntimeConfig, Services,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::componentized::{self, modified};
use crate::guests::repo_root;
use crate::support::{guest_error, invoke, refused_as_unapproved};

/// Runs a build step, failing the test with what to install when the tool is missing.
fn run_step(mut command: Command, what: &str, dir: &Path) {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command.current_dir(dir).status().unwrap_or_else(|error| {
        panic!(
            "`{program}` could not be started ({error}). Building the JavaScript guest in {} \
             needs Node.js and npm on the PATH; CI installs them.",
            dir.display()
        )
    });
    assert!(
        status.success(),
        "{what} in {} failed: {status}",
        dir.display()
    );
}

fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| componentized::runtime("js"))
}

/// The JavaScript guest `integrations/NAME`, built with its own `build.mjs` (componentize-js
/// against the world without the imports its manifest does not ask for) and loaded by `runtime`.
fn build_js(runtime: &Runtime, name: &str) -> LoadedComponent {
    let source = repo_root().join("integrations").join(name);
    let package_lock = source.join("package-lock.json");
    let sources = [
        source.join("index.js"),
        source.join("build.mjs"),
        repo_root().join("integrations/js-build.mjs"),
        package_lock.clone(),
        repo_root().join("wit/world.wit"),
    ];
    componentized::build_and_load(runtime, "js", name, &sources, |staging| {
        // npm records what it installed in node_modules/.package-lock.json.
        let installed = modified(&source.join("node_modules/.package-lock.json"));
        if installed.is_none() || installed < modified(&package_lock) {
            let mut npm = Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund"]);
            run_step(npm, "npm ci", &source);
        }
        let mut node = Command::new("node");
        node.arg("build.mjs").arg(staging);
        run_step(node, "node build.mjs", &source);
    })
}

fn echo_js() -> LoadedComponent {
    static LOADED: OnceLock<LoadedComponent> = OnceLock::new();
    LOADED
        .get_or_init(|| build_js(js_runtime(), "echo-js"))
        .clone()
}

#[tokio::test]
async fn echo_js_returns_its_input() {
    // A trivial call burns about 1.3M fuel in StarlingMonkey.
    componentized::check_echo(js_runtime(), &echo_js(), 20_000_000).await;
}

#[tokio::test]
async fn echo_js_returns_nothing_for_other_events() {
    componentized::check_none_for_other_events(js_runtime(), &echo_js()).await;
}

#[tokio::test]
async fn a_spinning_js_guest_runs_out_of_fuel_or_time() {
    componentized::check_spin_limits(js_runtime(), &echo_js()).await;
}

/// A runtime of its own (its HTTP client belongs to this test's executor) that lets outbound
/// HTTP reach loopback, as the Rust egress tests do, with fetch-js loaded from the shared disk
/// cache.
fn egress_runtime_and_fetch_js() -> (Runtime, LoadedComponent) {
    let runtime = Runtime::new(RuntimeConfig {
        allow_private_networks: true,
        ..componentized::runtime_config("js")
    })
    .expect("runtime");
    let component = build_js(&runtime, "fetch-js");
    (runtime, component)
}

/// Answers one connection on loopback with a 200 and `body`, and returns its port and the head
/// of the request it got (empty when nothing connected).
async fn one_shot_server(body: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return String::new();
        };
        // A GET has no body: the head ends the request.
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|window| window == b"\r\n\r\n") {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        String::from_utf8_lossy(&received).into_owned()
    });
    (port, served)
}

/// An `invoke` of fetch-js with what its manifest asks for: egress to `origins`, nothing else.
fn fetch_request(url: &str, origins: &[String]) -> RunRequest {
    RunRequest {
        grants: Grants {
            http: Some(EgressPolicy::parse(origins).unwrap()),
            ..Grants::default()
        },
        ..invoke(json!({ "url": url }), Services::default())
    }
}

#[tokio::test]
async fn a_js_fetch_to_an_approved_origin_returns_the_body() {
    let (runtime, component) = egress_runtime_and_fetch_js();
    // The build kept `wasi:http/outgoing-handler`, so the component does not start without egress.
    assert_eq!(component.capabilities(), [Capability::Http]);
    assert!(component.check_grants(&Grants::default()).is_err());

    let (port, served) = one_shot_server("hello from loopback").await;
    let origin = format!("http://127.0.0.1:{port}");
    let outcome = runtime
        .run(
            &component,
            fetch_request(&format!("{origin}/greeting?key=k"), &[origin]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    match &outcome.output {
        Some(Output::Json(text)) => assert_eq!(
            serde_json::from_str::<serde_json::Value>(text).unwrap(),
            json!({"status": 200, "body": "hello from loopback"})
        ),
        other => panic!("expected JSON output, got {other:?}"),
    }
    let head = served.await.unwrap();
    assert!(
        head.starts_with("GET /greeting?key=k HTTP/1.1\r\n"),
        "{head}"
    );
    let [attempt] = outcome.record.outbound_requests.as_slice() else {
        panic!("{:?}", outcome.record.outbound_requests);
    };
    assert!(attempt.allowed, "{attempt:?}");
    assert_eq!(attempt.method, "GET");
    assert_eq!(attempt.url, format!("http://127.0.0.1:{port}/greeting"));
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.response_bytes, "hello from loopback".len() as u64);
    assert!(outcome.record.denials.is_empty());
}

#[tokio::test]
async fn a_js_fetch_to_an_origin_not_granted_is_refused() {
    // Private networks are allowed here, so only the origin allowlist can refuse the request.
    let (runtime, component) = egress_runtime_and_fetch_js();
    let (port, served) = one_shot_server("secret").await;
    let url = format!("http://127.0.0.1:{port}/");
    let granted = ["https://api.example.com".to_string()];
    let outcome = runtime
        .run(&component, fetch_request(&url, &granted))
        .await
        .unwrap();
    // StarlingMonkey's fetch rejects with a generic TypeError; the WASI error code
    // (`HTTP-request-denied`) is only in the run record.
    let message = guest_error(&outcome);
    assert!(
        message.starts_with(&format!("fetch {url} failed: TypeError: NetworkError")),
        "{message}"
    );
    assert!(outcome.output.is_none());
    assert_eq!(refused_as_unapproved(&outcome).url, url);
    served.abort();
    assert!(served.await.is_err(), "nothing connected");
}
