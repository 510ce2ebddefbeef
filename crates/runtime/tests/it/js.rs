//! JavaScript integrations: `integrations/echo-js` and `integrations/fetch-js`, built with
//! componentize-js, run end to end; fetch-js's `fetch` goes out through `wasi:http` to a
//! loopback server.
//!
//! Building them needs Node.js and npm. Without them these tests fail rather than skip, so that a
//! machine that cannot build JavaScript guests never reports them as passing; CI installs both.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use runtime::{LoadedComponent, Runtime};

use crate::componentized::{self, modified};
use crate::guests::repo_root;
use crate::support::guest_error;

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

/// A runtime of its own that lets outbound HTTP reach loopback, with fetch-js loaded from the
/// shared disk cache.
fn egress_runtime_and_fetch_js() -> (Runtime, LoadedComponent) {
    let runtime = componentized::egress_runtime("js");
    let component = build_js(&runtime, "fetch-js");
    (runtime, component)
}

#[tokio::test]
async fn a_js_fetch_to_an_approved_origin_returns_the_body() {
    let (runtime, component) = egress_runtime_and_fetch_js();
    componentized::check_fetch_of_an_approved_origin(&runtime, &component).await;
}

#[tokio::test]
async fn a_js_fetch_to_an_origin_not_granted_is_refused() {
    let (runtime, component) = egress_runtime_and_fetch_js();
    let (url, outcome) = componentized::fetch_of_an_origin_not_granted(&runtime, &component).await;
    // StarlingMonkey's fetch rejects with a generic TypeError; the WASI error code
    // (`HTTP-request-denied`) is only in the run record.
    let message = guest_error(&outcome);
    assert!(
        message.starts_with(&format!("fetch {url} failed: TypeError: NetworkError")),
        "{message}"
    );
}
