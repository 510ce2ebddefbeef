//! Builds guest crates for wasm32-wasip2. Shared by the tests and the benchmark
//! (`examples/invoke_bench.rs` includes this file).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Guests build into their own target directory: `TRELLIS_GUESTS_TARGET_DIR`, or one under this
/// crate's target directory (tests) or the system's temporary one (examples).
fn guests_target_dir() -> PathBuf {
    std::env::var_os("TRELLIS_GUESTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| match option_env!("CARGO_TARGET_TMPDIR") {
            Some(tmp) => Path::new(tmp).join("guests"),
            None => std::env::temp_dir().join("trellis-guests"),
        })
}

/// Builds the guest crate at `dir` (relative to the repository) for wasm32-wasip2 and returns the
/// component's bytes. Cargo makes a second build a no-op.
pub fn build_guest(dir: &str, name: &str) -> Vec<u8> {
    let target = guests_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .current_dir(repo_root().join(dir))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo to build a guest");
    assert!(status.success(), "building the guest in {dir} failed");
    let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}
