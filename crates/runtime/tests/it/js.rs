//! JavaScript integrations: `integrations/echo-js`, built with componentize-js, runs end to end.
//!
//! Building it needs Node.js and npm. Without them these tests fail rather than skip, so that a
//! machine that cannot build JavaScript guests never reports them as passing; CI installs both.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use runtime::{
    ComponentDigest, Event, Grants, LoadedComponent, Output, RunRequest, RunStatus, Runtime,
    RuntimeConfig, Services,
};
use serde_json::json;

use crate::guests::repo_root;
use crate::support::{invoke, test_config};

const ECHO_JS: &str = "integrations/echo-js";

/// JavaScript guests build beside the Rust ones: under `TRELLIS_GUESTS_TARGET_DIR`, or this
/// crate's temporary target directory.
fn js_target_dir() -> PathBuf {
    std::env::var_os("TRELLIS_GUESTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests"))
        .join("js")
}

/// The newest modification time among `paths`; a missing path counts as new.
fn newest(paths: &[PathBuf]) -> SystemTime {
    paths
        .iter()
        .map(|path| {
            std::fs::metadata(path)
                .and_then(|metadata| metadata.modified())
                .unwrap_or_else(|_| SystemTime::now())
        })
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
}

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

/// Builds the JavaScript guest at `dir` (relative to the repository) with its `build.mjs`, unless
/// the component is newer than its sources, and compiles it with `runtime`. nextest runs each
/// test in its own process: a file lock makes one of them build and compile while the others
/// wait, then load the compiled component from the runtime's disk cache.
fn build_and_load_js_guest(runtime: &Runtime, dir: &str, name: &str) -> LoadedComponent {
    let source = repo_root().join(dir);
    let out_dir = js_target_dir().join(name);
    std::fs::create_dir_all(&out_dir).expect("create the JavaScript guests' directory");
    let lock = File::create(out_dir.join(".lock")).expect("create the build lock");
    lock.lock().expect("take the build lock");

    let component = out_dir.join(format!("{name}.wasm"));
    let package_lock = source.join("package-lock.json");
    let sources = [
        source.join("index.js"),
        source.join("build.mjs"),
        package_lock.clone(),
        repo_root().join("wit/world.wit"),
    ];
    let fresh = modified(&component).is_some_and(|built| built > newest(&sources));
    if !fresh {
        // npm records what it installed in node_modules/.package-lock.json.
        let installed = modified(&source.join("node_modules/.package-lock.json"));
        let locked = modified(&package_lock);
        if installed.is_none() || installed < locked {
            let mut npm = Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund"]);
            run_step(npm, "npm ci", &source);
        }
        // Build into a staging directory so that a failed build never leaves a fresh-looking
        // component behind.
        let staging = out_dir.join("staging");
        let mut node = Command::new("node");
        node.arg("build.mjs").arg(&staging);
        run_step(node, "node build.mjs", &source);
        // componentize-js builds are not byte-for-byte reproducible, so the component replaced
        // here will never be loaded again: drop its compiled form (tens of MB) from the cache.
        if let Ok(previous) = std::fs::read(&component) {
            remove_compiled(&ComponentDigest::of(&previous));
        }
        std::fs::rename(staging.join(format!("{name}.wasm")), &component)
            .expect("move the built component into place");
    }

    let bytes = std::fs::read(&component)
        .unwrap_or_else(|error| panic!("read {}: {error}", component.display()));
    runtime
        .load(&bytes)
        .unwrap_or_else(|error| panic!("load {}: {error}", component.display()))
}

fn compiled_dir() -> PathBuf {
    js_target_dir().join("compiled")
}

/// Removes a component's compiled files, named after its digest, from the runtime's disk cache.
fn remove_compiled(digest: &ComponentDigest) {
    let prefix = digest.to_hex();
    for entry in std::fs::read_dir(compiled_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A runtime that keeps compiled components on disk: compiling the 12 MB StarlingMonkey
/// component takes tens of seconds, once per machine rather than once per test process.
fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            cache_dir: Some(compiled_dir()),
            ..test_config()
        })
        .expect("runtime")
    })
}

fn echo_js() -> LoadedComponent {
    static LOADED: OnceLock<LoadedComponent> = OnceLock::new();
    LOADED
        .get_or_init(|| build_and_load_js_guest(js_runtime(), ECHO_JS, "echo-js"))
        .clone()
}

/// An `invoke` of echo-js with what its manifest asks for: no capabilities.
fn invoke_echo_js(input: serde_json::Value) -> RunRequest {
    RunRequest {
        grants: Grants::default(),
        ..invoke(input, Services::default())
    }
}

#[tokio::test]
async fn echo_js_returns_its_input() {
    let component = echo_js();
    // Its manifest asks for no scopes: the build left every gated import out.
    assert_eq!(component.capabilities(), []);
    let input = json!({"hello": "world", "n": [1, 2.5, null], "nested": {"ok": true}});
    let outcome = js_runtime()
        .run(&component, invoke_echo_js(input.clone()))
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
        "echo-js: fuel_used={} memory_peak_bytes={} duration_us={}",
        record.fuel_used, record.memory_peak_bytes, record.duration_us
    );
    // A trivial call burns about 1.3M fuel in StarlingMonkey; far more would mean the engine
    // initializes at run time instead of from its snapshot.
    assert!(
        record.fuel_used > 0 && record.fuel_used < 20_000_000,
        "fuel_used {}",
        record.fuel_used
    );
    assert_eq!(record.host_calls, 0);
}

#[tokio::test]
async fn echo_js_returns_nothing_for_other_events() {
    let mut request = invoke_echo_js(json!(null));
    request.event = Event::Schedule {
        name: "nightly".into(),
        fire_at_ms: 1_700_000_000_000,
    };
    let outcome = js_runtime().run(&echo_js(), request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    assert!(matches!(outcome.output, Some(Output::None)));
}

#[tokio::test]
async fn a_spinning_js_guest_runs_out_of_fuel() {
    let mut request = invoke_echo_js(json!({"op": "spin"}));
    request.limits.fuel_max = 50_000_000;
    let outcome = js_runtime().run(&echo_js(), request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::FuelExhausted);
    assert_eq!(outcome.record.fuel_used, 50_000_000);
    assert!(outcome.output.is_none());
}

#[tokio::test]
async fn a_spinning_js_guest_with_fuel_to_spare_times_out() {
    let mut request = invoke_echo_js(json!({"op": "spin"}));
    request.limits.fuel_max = u64::MAX / 2;
    request.limits.wall_ms_max = 300;
    let outcome = js_runtime().run(&echo_js(), request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Timeout);
    assert!(outcome.record.duration_us >= 300_000);
    assert!(outcome.output.is_none());
}
