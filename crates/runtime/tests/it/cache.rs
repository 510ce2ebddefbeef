//! Compiled components are cached on disk and reused across runtimes.

use runtime::{RunStatus, Runtime, RuntimeConfig, Services};
use serde_json::json;

use crate::support::{echo_bytes, invoke, test_config};

fn runtime_with_cache(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..test_config()
    })
    .unwrap()
}

#[tokio::test]
async fn a_second_runtime_loads_the_compiled_component_from_disk() {
    let dir = std::env::temp_dir().join(format!("trellis-cache-{}", uuid::Uuid::now_v7()));
    let first = runtime_with_cache(&dir).load(echo_bytes()).unwrap();
    assert!(!first.from_disk_cache());
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let name = files[0]
        .as_ref()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    assert!(name.starts_with(&first.digest().to_hex()), "{name}");

    let runtime = runtime_with_cache(&dir);
    let second = runtime.load(echo_bytes()).unwrap();
    assert!(second.from_disk_cache());
    let outcome = runtime
        .run(&second, invoke(json!("cached"), Services::default()))
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);

    // A corrupted file is not loaded: the component is compiled again.
    let path = files[0].as_ref().unwrap().path();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let third = runtime_with_cache(&dir).load(echo_bytes()).unwrap();
    assert!(!third.from_disk_cache());
    std::fs::remove_dir_all(&dir).unwrap();
}
