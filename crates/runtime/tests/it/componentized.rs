//! What the JavaScript (`js.rs`) and Python (`py.rs`) guest tests share: building a guest with
//! its language's toolchain once per machine, a runtime that keeps compiled components on disk,
//! the checks every echo guest must pass, and the loopback server and checks of the fetch guests.
//!
//! The toolchains (componentize-js, componentize-py) make components of 12 to 18 MB whose
//! native compile takes seconds to tens of seconds, so nextest's test processes share one build
//! and one compiled copy: a file lock makes one process build and compile while the others wait,
//! then load the compiled component from the runtime's disk cache.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use runtime::{
    Capability, ComponentDigest, EgressPolicy, Event, Grants, LoadedComponent, Output, RunOutcome,
    RunRequest, RunStatus, Runtime, RuntimeConfig, Services,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{invoke, refused_as_unapproved, test_config};

/// Where a language's guests build: under `TRELLIS_GUESTS_TARGET_DIR` (beside the Rust guests),
/// or this crate's temporary target directory.
pub fn target_dir(language: &str) -> PathBuf {
    std::env::var_os("TRELLIS_GUESTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests"))
        .join(language)
}

/// The newest modification time among `paths`; a missing path counts as new.
fn newest(paths: &[PathBuf]) -> SystemTime {
    paths
        .iter()
        .map(|path| modified(path).unwrap_or_else(SystemTime::now))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
}

fn compiled_dir(language: &str) -> PathBuf {
    target_dir(language).join("compiled")
}

/// A runtime that keeps compiled components on disk, so that a guest compiles once per machine
/// rather than once per test process.
pub fn runtime(language: &str) -> Runtime {
    Runtime::new(runtime_config(language)).expect("runtime")
}

/// What [`runtime`] is made with, for tests that need a runtime of their own sharing its disk
/// cache.
pub fn runtime_config(language: &str) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(compiled_dir(language)),
        ..test_config()
    }
}

/// Builds guest `name` unless its component is newer than `sources`, then loads it with
/// `runtime`. `build(staging)` must write `staging/NAME.wasm`: a failed build never leaves a
/// fresh-looking component behind.
pub fn build_and_load(
    runtime: &Runtime,
    language: &str,
    name: &str,
    sources: &[PathBuf],
    build: impl FnOnce(&Path),
) -> LoadedComponent {
    let out_dir = target_dir(language).join(name);
    std::fs::create_dir_all(&out_dir).expect("create the guests' directory");
    let lock = File::create(out_dir.join(".lock")).expect("create the build lock");
    lock.lock().expect("take the build lock");
    let component = out_dir.join(format!("{name}.wasm"));
    if modified(&component).is_none_or(|built| built <= newest(sources)) {
        let staging = out_dir.join("staging");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).expect("create the staging directory");
        let started = Instant::now();
        build(&staging);
        eprintln!("{name}: built in {} ms", started.elapsed().as_millis());
        // These toolchains' builds are not byte-for-byte reproducible, so the component
        // replaced here will never be loaded again: drop its compiled form (tens of MB).
        if let Ok(previous) = std::fs::read(&component) {
            remove_compiled(language, &ComponentDigest::of(&previous));
        }
        std::fs::rename(staging.join(format!("{name}.wasm")), &component)
            .expect("move the built component into place");
    }
    let bytes = std::fs::read(&component)
        .unwrap_or_else(|error| panic!("read {}: {error}", component.display()));
    let started = Instant::now();
    let loaded = runtime
        .load(&bytes)
        .unwrap_or_else(|error| panic!("load {}: {error}", component.display()));
    eprintln!(
        "{name}: component_bytes={} load_ms={} from_disk_cache={}",
        bytes.len(),
        started.elapsed().as_millis(),
        loaded.from_disk_cache()
    );
    loaded
}

/// Removes a component's compiled files, named after its digest, from the runtime's disk cache.
fn remove_compiled(language: &str, digest: &ComponentDigest) {
    let prefix = digest.to_hex();
    for entry in std::fs::read_dir(compiled_dir(language))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An `invoke` of an echo guest with what its manifest asks for: no capabilities.
pub fn invoke_echo(input: serde_json::Value) -> RunRequest {
    RunRequest {
        grants: Grants::default(),
        ..invoke(input, Services::default())
    }
}

/// The guest echoes its input as JSON, imports nothing gated, makes no host call, and burns
/// fuel below `fuel_ceiling` (far more would mean the language's engine initializes at run time
/// instead of starting from the snapshot its toolchain took at build time).
pub async fn check_echo(runtime: &Runtime, component: &LoadedComponent, fuel_ceiling: u64) {
    // Its manifest asks for no scopes: the build left every gated import out.
    assert_eq!(component.capabilities(), []);
    let input = json!({"hello": "world", "n": [1, 2.5, null], "nested": {"ok": true}});
    let outcome = runtime
        .run(component, invoke_echo(input.clone()))
        .await
        .unwrap();
    let record = &outcome.record;
    assert_eq!(record.status, RunStatus::Ok);
    match &outcome.output {
        Some(Output::Json(text)) => {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(text).unwrap(),
                input
            )
        }
        other => panic!("expected JSON output, got {other:?}"),
    }
    eprintln!(
        "fuel_used={} memory_peak_bytes={} duration_us={}",
        record.fuel_used, record.memory_peak_bytes, record.duration_us
    );
    assert!(
        record.fuel_used > 0 && record.fuel_used < fuel_ceiling,
        "fuel_used {}",
        record.fuel_used
    );
    assert_eq!(record.host_calls, 0);
}

/// Events other than `invoke` get `none`.
pub async fn check_none_for_other_events(runtime: &Runtime, component: &LoadedComponent) {
    let mut request = invoke_echo(json!(null));
    request.event = Event::Schedule {
        name: "nightly".into(),
        fire_at_ms: 1_700_000_000_000,
    };
    let outcome = runtime.run(component, request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    assert!(matches!(outcome.output, Some(Output::None)));
}

/// `{"op": "spin"}` loops forever: the fuel limit ends it, or with fuel to spare the wall clock.
pub async fn check_spin_limits(runtime: &Runtime, component: &LoadedComponent) {
    let mut request = invoke_echo(json!({"op": "spin"}));
    request.limits.fuel_max = 50_000_000;
    let outcome = runtime.run(component, request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::FuelExhausted);
    assert_eq!(outcome.record.fuel_used, 50_000_000);
    assert!(outcome.output.is_none());

    let mut request = invoke_echo(json!({"op": "spin"}));
    request.limits.fuel_max = u64::MAX / 2;
    request.limits.wall_ms_max = 300;
    let outcome = runtime.run(component, request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Timeout);
    assert!(outcome.record.duration_us >= 300_000);
    assert!(outcome.output.is_none());
}

/// A runtime of its own for a fetch guest (its HTTP client belongs to the calling test's
/// executor) that lets outbound HTTP reach loopback, as the Rust egress tests do, sharing
/// `language`'s disk cache.
pub fn egress_runtime(language: &str) -> Runtime {
    Runtime::new(RuntimeConfig {
        allow_private_networks: true,
        ..runtime_config(language)
    })
    .expect("runtime")
}

/// Answers one connection on loopback with a 200 and `body`, and returns its port and the head
/// of the request it got (empty when nothing connected).
pub async fn one_shot_server(body: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
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

/// An `invoke` of a fetch guest with what its manifest asks for: egress to `origins`, nothing
/// else.
pub fn fetch_request(url: &str, origins: &[String]) -> RunRequest {
    RunRequest {
        grants: Grants {
            http: Some(EgressPolicy::parse(origins).unwrap()),
            ..Grants::default()
        },
        ..invoke(json!({ "url": url }), Services::default())
    }
}

/// A fetch guest imports `wasi:http/outgoing-handler` (so it does not start without egress),
/// fetches a URL of an approved loopback origin, and returns the response's status and body as
/// JSON; the server sees the GET, and the run record holds the one allowed request.
pub async fn check_fetch_of_an_approved_origin(runtime: &Runtime, component: &LoadedComponent) {
    // The build kept `wasi:http/outgoing-handler`, so the component does not start without egress.
    assert_eq!(component.capabilities(), [Capability::Http]);
    assert!(component.check_grants(&Grants::default()).is_err());

    let (port, served) = one_shot_server("hello from loopback").await;
    let origin = format!("http://127.0.0.1:{port}");
    let outcome = runtime
        .run(
            component,
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
    eprintln!(
        "fetch: fuel_used={} duration_us={}",
        outcome.record.fuel_used, outcome.record.duration_us
    );
}

/// A fetch guest asked for a loopback URL whose origin its installation was not granted: the
/// request never goes out (nothing connects to the server), the run ends without output and
/// its record shows the refusal. Returns the URL and the outcome, whose error message is the
/// guest's and so the caller's to check.
pub async fn fetch_of_an_origin_not_granted(
    runtime: &Runtime,
    component: &LoadedComponent,
) -> (String, RunOutcome) {
    // Private networks are allowed here, so only the origin allowlist can refuse the request.
    let (port, served) = one_shot_server("secret").await;
    let url = format!("http://127.0.0.1:{port}/");
    let granted = ["https://api.example.com".to_string()];
    let outcome = runtime
        .run(component, fetch_request(&url, &granted))
        .await
        .unwrap();
    assert!(outcome.output.is_none());
    assert_eq!(refused_as_unapproved(&outcome).url, url);
    served.abort();
    assert!(served.await.is_err(), "nothing connected");
    (url, outcome)
}
