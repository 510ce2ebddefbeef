//! Python integrations: `integrations/echo-py` and `integrations/fetch-py`, built with
//! componentize-py, run end to end; fetch-py's GET goes out through `wasi:http` to a loopback
//! server.
//!
//! Building it needs `componentize-py` (`pip install componentize-py`) on the PATH. Without it
//! these tests fail rather than skip, so that a machine that cannot build Python guests never
//! reports them as passing; CI installs it.

use std::process::Command;
use std::sync::OnceLock;

use runtime::{LoadedComponent, RunStatus, Runtime};
use serde_json::json;

use crate::componentized::{self, invoke_echo};
use crate::guests::repo_root;
use crate::support::guest_error;

/// The world Python components are built against, as componentize-py names it.
const WORLD_NAME: &str = "trellis:integration/integration";

/// The WASI HTTP import a manifest with `[egress]` keeps in the world.
const HTTP_IMPORT: &str = "import wasi:http/outgoing-handler@0.2.12;";

/// The contract without the world's imports, but for `wasi:http/outgoing-handler` when `http`:
/// componentize-py imports every interface of the world it is given, and echo-py's manifest asks
/// for none, fetch-py's for egress only (`trellis integration build` narrows the world to the
/// manifest's scopes the same way).
fn narrowed_world(wit: &str, http: bool) -> String {
    wit.lines()
        .filter(|line| {
            let line = line.trim();
            !(line.starts_with("import ") && line.ends_with(';')) || (http && line == HTTP_IMPORT)
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A runtime that keeps compiled components on disk. It keeps the default
/// `core_instances_per_run_max` (64): echo-py has 38 core instances, more than 32.
fn py_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| componentized::runtime("py"))
}

/// The Python guest `integrations/NAME`, built by componentize-py from a copy of its `app.py`
/// (its `__pycache__` stays out of the repository) and loaded by `runtime`: against the world
/// without imports and WASI stubbed out, or, when `http`, against the world that keeps only
/// `wasi:http/outgoing-handler` (with the WASI packages of `wit/deps` beside it) and WASI left
/// in.
fn build_py(runtime: &Runtime, name: &str, http: bool) -> LoadedComponent {
    let source = repo_root().join("integrations").join(name);
    let wit = repo_root().join("wit");
    let deps = wit.join("deps");
    let mut sources = vec![source.join("app.py"), wit.join("world.wit")];
    if http {
        for entry in std::fs::read_dir(&deps).expect("list wit/deps") {
            sources.push(entry.expect("list wit/deps").path());
        }
    }
    componentized::build_and_load(runtime, "py", name, &sources, |staging| {
        let (app_dir, wit_dir) = (staging.join("app"), staging.join("wit"));
        std::fs::create_dir_all(&app_dir).expect("create the staging directory");
        std::fs::create_dir_all(&wit_dir).expect("create the staging directory");
        std::fs::copy(source.join("app.py"), app_dir.join("app.py")).expect("copy app.py");
        let world = std::fs::read_to_string(wit.join("world.wit")).expect("read wit/world.wit");
        std::fs::write(wit_dir.join("world.wit"), narrowed_world(&world, http))
            .expect("write the narrowed world");
        if http {
            std::fs::create_dir_all(wit_dir.join("deps")).expect("create the staging directory");
            for entry in std::fs::read_dir(&deps).expect("list wit/deps") {
                let path = entry.expect("list wit/deps").path();
                std::fs::copy(&path, wit_dir.join("deps").join(path.file_name().unwrap()))
                    .unwrap_or_else(|error| panic!("copy {}: {error}", path.display()));
            }
        }
        let mut componentize = Command::new("componentize-py");
        componentize
            .arg("--quiet")
            .arg("--wit-path")
            .arg(&wit_dir)
            .args(["--world", WORLD_NAME, "componentize", "app"]);
        // `--stub-wasi` stubs every import whose name starts with `wasi:`, the world's
        // `wasi:http/outgoing-handler` and `wasi:io` included (the component would import
        // nothing gated and trap on its first request), so a guest with egress is built
        // without it and imports the rest of WASI too, which the runtime links without files,
        // environment or sockets.
        if !http {
            componentize.arg("--stub-wasi");
        }
        let status = componentize
            .arg("--python-path")
            .arg(&app_dir)
            .arg("--output")
            .arg(staging.join(format!("{name}.wasm")))
            .status()
            .unwrap_or_else(|error| {
                panic!(
                    "`componentize-py` could not be started ({error}). Building the Python guest \
                     in {} needs it on the PATH: `pip install componentize-py`; CI installs it.",
                    source.display()
                )
            });
        assert!(
            status.success(),
            "componentize-py in {} failed: {status}",
            source.display()
        );
    })
}

/// echo-py, built against the world without imports.
fn echo_py() -> LoadedComponent {
    static LOADED: OnceLock<LoadedComponent> = OnceLock::new();
    LOADED
        .get_or_init(|| build_py(py_runtime(), "echo-py", false))
        .clone()
}

/// A runtime of its own (its HTTP client belongs to the calling test's executor) that lets
/// outbound HTTP reach loopback, with fetch-py, built against the world that keeps only
/// `wasi:http/outgoing-handler`, loaded from the shared disk cache. The runtime keeps the default
/// `core_instances_per_run_max`, as [`py_runtime`] does.
fn egress_runtime_and_fetch_py() -> (Runtime, LoadedComponent) {
    let runtime = componentized::egress_runtime("py");
    let component = build_py(&runtime, "fetch-py", true);
    (runtime, component)
}

#[tokio::test]
async fn echo_py_returns_its_input() {
    // A trivial call burns about 63k fuel: CPython starts from componentize-py's snapshot.
    componentized::check_echo(py_runtime(), &echo_py(), 5_000_000).await;
}

#[tokio::test]
async fn echo_py_returns_nothing_for_other_events() {
    componentized::check_none_for_other_events(py_runtime(), &echo_py()).await;
}

#[tokio::test]
async fn a_spinning_py_guest_runs_out_of_fuel_or_time() {
    componentized::check_spin_limits(py_runtime(), &echo_py()).await;
}

#[tokio::test]
async fn a_python_err_ends_the_run_with_its_message() {
    let outcome = py_runtime()
        .run(&echo_py(), invoke_echo(json!({"op": "fail"})))
        .await
        .unwrap();
    assert_eq!(
        outcome.record.status,
        RunStatus::Error("asked to fail".into())
    );
    assert!(outcome.output.is_none());
}

#[tokio::test]
async fn a_py_fetch_to_an_approved_origin_returns_the_body() {
    let (runtime, component) = egress_runtime_and_fetch_py();
    componentized::check_fetch_of_an_approved_origin(&runtime, &component).await;
}

#[tokio::test]
async fn a_py_fetch_to_an_origin_not_granted_is_refused() {
    let (runtime, component) = egress_runtime_and_fetch_py();
    let (url, outcome) = componentized::fetch_of_an_origin_not_granted(&runtime, &component).await;
    // The guest gets the WASI error code itself (through the response's future) and puts it in
    // its message.
    assert_eq!(
        guest_error(&outcome),
        format!("fetch {url} failed: ErrorCode_HttpRequestDenied()")
    );
}
