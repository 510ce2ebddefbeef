//! Python integrations: `integrations/echo-py`, built with componentize-py, runs end to end.
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

/// The world Python components are built against, as componentize-py names it.
const WORLD_NAME: &str = "trellis:integration/integration";

/// The contract without the world's imports: componentize-py imports every interface of the
/// world it is given, and echo-py's manifest asks for none (`trellis integration build` narrows
/// the world to the manifest's scopes the same way).
fn world_without_imports(wit: &str) -> String {
    wit.lines()
        .filter(|line| {
            let line = line.trim();
            !(line.starts_with("import ") && line.ends_with(';'))
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

/// echo-py, built by componentize-py from a copy of the app (its `__pycache__` stays out of the
/// repository) against the world without imports, WASI stubbed out.
fn echo_py() -> LoadedComponent {
    static LOADED: OnceLock<LoadedComponent> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let source = repo_root().join("integrations/echo-py");
            let world = repo_root().join("wit/world.wit");
            let sources = [source.join("app.py"), world.clone()];
            componentized::build_and_load(py_runtime(), "py", "echo-py", &sources, |staging| {
                let (app_dir, wit_dir) = (staging.join("app"), staging.join("wit"));
                std::fs::create_dir_all(&app_dir).expect("create the staging directory");
                std::fs::create_dir_all(&wit_dir).expect("create the staging directory");
                std::fs::copy(source.join("app.py"), app_dir.join("app.py")).expect("copy app.py");
                let wit = std::fs::read_to_string(&world).expect("read wit/world.wit");
                std::fs::write(wit_dir.join("world.wit"), world_without_imports(&wit))
                    .expect("write the narrowed world");
                let status = Command::new("componentize-py")
                    .arg("--quiet")
                    .arg("--wit-path")
                    .arg(&wit_dir)
                    .args(["--world", WORLD_NAME, "componentize", "app", "--stub-wasi"])
                    .arg("--python-path")
                    .arg(&app_dir)
                    .arg("--output")
                    .arg(staging.join("echo-py.wasm"))
                    .status()
                    .unwrap_or_else(|error| {
                        panic!(
                            "`componentize-py` could not be started ({error}). Building the \
                             Python guest in {} needs it on the PATH: `pip install \
                             componentize-py`; CI installs it.",
                            source.display()
                        )
                    });
                assert!(
                    status.success(),
                    "componentize-py in {} failed: {status}",
                    source.display()
                );
            })
        })
        .clone()
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
