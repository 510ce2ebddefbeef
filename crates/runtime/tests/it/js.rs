//! JavaScript integrations: `integrations/echo-js`, built with componentize-js, runs end to end.
//!
//! Building it needs Node.js and npm. Without them these tests fail rather than skip, so that a
//! machine that cannot build JavaScript guests never reports them as passing; CI installs both.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use runtime::{LoadedComponent, Runtime};

use crate::componentized::{self, modified};
use crate::guests::repo_root;

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

/// echo-js, built with its own `build.mjs` (componentize-js against the world without the
/// imports its manifest does not ask for).
fn echo_js() -> LoadedComponent {
    static LOADED: OnceLock<LoadedComponent> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let source = repo_root().join("integrations/echo-js");
            let package_lock = source.join("package-lock.json");
            let sources = [
                source.join("index.js"),
                source.join("build.mjs"),
                package_lock.clone(),
                repo_root().join("wit/world.wit"),
            ];
            componentized::build_and_load(js_runtime(), "js", "echo-js", &sources, |staging| {
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
        })
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
