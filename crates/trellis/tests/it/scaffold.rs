//! `trellis integration new | build | dev`: a project scaffolded, built by cargo into a component,
//! and run against a real server, the way a developer starts an integration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::{BIN, Server, cli, owner_token, temp_dir};

/// Where the scaffolds build: the guests' target directory, as the runtime's tests pick it
/// (crates/runtime/tests/it/guests.rs), so that the SDK and its dependencies build once.
fn guests_target_dir() -> PathBuf {
    std::env::var_os("TRELLIS_GUESTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests"))
}

fn trellis(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", guests_target_dir())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn succeeded(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert!(!output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The version `dev` printed as installed, and the run's JSON output.
fn dev_result(stdout: &str) -> (String, Value) {
    let version = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Installed scaffold-titles "))
        .and_then(|rest| rest.split_once(" as "))
        .unwrap_or_else(|| panic!("no installed version: {stdout}"))
        .0
        .to_string();
    let output = stdout
        .lines()
        .find_map(|line| line.strip_prefix("output: "))
        .unwrap_or_else(|| panic!("no output: {stdout}"));
    (version, serde_json::from_str(output).unwrap())
}

#[tokio::test]
async fn a_new_project_builds_to_a_component_and_dev_runs_it_and_its_edits() {
    let dir = temp_dir("scaffold-dev");
    let project = dir.join("titles");
    let project_arg = project.to_str().unwrap();
    let created = succeeded(trellis(
        &[
            "integration",
            "new",
            "scaffold-titles",
            "--dir",
            project_arg,
        ],
        &dir,
    ));
    assert!(
        created.contains("Created the integration scaffold-titles"),
        "{created}"
    );
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "trellis.toml",
        ".gitignore",
        "README.md",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }
    let manifest = std::fs::read_to_string(project.join("trellis.toml")).unwrap();
    assert!(manifest.contains("version = \"0.1.0\""), "{manifest}");

    // `build` compiles it into a component and says where it is.
    let built = succeeded(trellis(
        &["integration", "build", "--dir", project_arg],
        &dir,
    ));
    let line = built.lines().last().unwrap();
    let path = line
        .strip_prefix("Built scaffold-titles 0.1.0: ")
        .and_then(|rest| rest.split_once(" ("))
        .unwrap_or_else(|| panic!("{built}"))
        .0;
    assert!(path.ends_with("scaffold_titles.wasm"), "{line}");
    let bytes = std::fs::read(path).unwrap();
    assert!(line.contains(&format!("({} bytes", bytes.len())), "{line}");
    // The wasm magic, then version 0x0d and layer 1: a component, not a core module.
    assert_eq!(bytes[..8], [0, b'a', b's', b'm', 0x0d, 0, 1, 0]);

    let data = dir.join("data");
    let token = owner_token(data.to_str().unwrap());
    let server = Server::start(&data, false).await;
    let url = format!("http://127.0.0.1:{}", server.port);
    let (status, page) = server
        .request(
            "POST",
            "/v1/pages",
            Some(&token),
            Some(&json!({"parent": {"workspace": true},
                         "properties": {"title": {"title": [{"text": {"content": "Garden plan"}}]}}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    let page_id = page["id"].as_str().unwrap();
    let dev = || {
        succeeded(trellis(
            &[
                "integration",
                "dev",
                "--dir",
                project_arg,
                "--input",
                r#"{"query": "Garden"}"#,
                "--server",
                &url,
                "--token",
                &token,
            ],
            &dir,
        ))
    };

    // Nothing is shared with the integration yet: it runs, and sees no title.
    let first = dev();
    let (first_version, output) = dev_result(&first);
    assert!(first_version.starts_with("0.1.0-dev."), "{first}");
    assert!(first.contains(" ok (invoke trigger)"), "{first}");
    assert!(first.contains("searched titles"), "{first}");
    assert_eq!(
        output,
        json!({"query": "Garden", "titles": [], "more": false})
    );

    // Shared and edited: the next dev registers a new version, which runs the new code.
    cli(&[
        "integration",
        "share",
        "scaffold-titles",
        page_id,
        "--level",
        "can_view",
        "--server",
        &url,
        "--token",
        &token,
    ]);
    let source = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    let before = "\"more\": results.next_cursor.is_some(),";
    assert!(source.contains(before), "{source}");
    std::fs::write(
        project.join("src/lib.rs"),
        source.replace(before, &format!("{before} \"edited\": true,")),
    )
    .unwrap();
    let second = dev();
    let (second_version, output) = dev_result(&second);
    assert!(second_version.starts_with("0.1.0-dev."), "{second}");
    assert_ne!(second_version, first_version);
    assert_eq!(
        output,
        json!({"query": "Garden", "titles": ["Garden plan"], "more": false, "edited": true})
    );

    // An unchanged project registers as the package it already is.
    let (third_version, _) = dev_result(&dev());
    assert_eq!(third_version, second_version);

    // The file on disk keeps its version; the server has both development versions.
    assert_eq!(
        std::fs::read_to_string(project.join("trellis.toml")).unwrap(),
        manifest
    );
    let (_, packages) = server
        .request("GET", "/platform/v1/integrations", Some(&token), None)
        .await
        .unwrap();
    let mut versions: Vec<&str> = packages["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| package["version"].as_str().unwrap())
        .collect();
    versions.sort();
    let mut expected = vec![first_version.as_str(), second_version.as_str()];
    expected.sort();
    assert_eq!(versions, expected, "{packages}");

    // A failed run fails the command, after printing the run.
    let refused = trellis(
        &[
            "integration",
            "dev",
            "--dir",
            project_arg,
            "--input",
            r#"{"query": 7}"#,
            "--server",
            &url,
            "--token",
            &token,
        ],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&refused.stdout).into_owned();
    let stderr = failed(refused);
    assert!(
        stdout.contains("input.query should be a string"),
        "{stdout}"
    );
    assert!(stderr.contains("the run ended error"), "{stderr}");
}

#[test]
fn new_refuses_names_the_manifest_or_cargo_would_refuse() {
    let dir = temp_dir("scaffold-names");
    let too_long = "a".repeat(65);
    for name in [
        "Hello",
        "-hello",
        "snake_case",
        "two words",
        "",
        too_long.as_str(),
    ] {
        // After `--`, so that "-hello" reaches the check instead of clap's options.
        let stderr = failed(trellis(&["integration", "new", "--", name], &dir));
        assert!(
            stderr.contains("is not an integration name")
                && stderr.contains("lowercase letters, digits and '-'"),
            "{name}: {stderr}"
        );
    }
    let stderr = failed(trellis(&["integration", "new", "9lives"], &dir));
    assert!(stderr.contains("start it with a letter"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn new_never_overwrites_a_folder_with_files() {
    let dir = temp_dir("scaffold-existing");
    let taken = dir.join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("README.md"), "mine").unwrap();
    let stderr = failed(trellis(
        &[
            "integration",
            "new",
            "taken",
            "--dir",
            taken.to_str().unwrap(),
        ],
        &dir,
    ));
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(taken.join("README.md")).unwrap(),
        "mine"
    );
    // The default folder, ./NAME, likewise.
    let stderr = failed(trellis(&["integration", "new", "taken"], &dir));
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );

    // An empty folder is used.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    succeeded(trellis(
        &["integration", "new", "fresh", "--dir", "empty"],
        &dir,
    ));
    assert!(dir.join("empty/trellis.toml").is_file());
}

#[test]
fn new_writes_the_sdk_path_relative_to_the_project() {
    let dir = temp_dir("scaffold-sdk");
    let sdk = dir.join("vendor/trellis-sdk");
    std::fs::create_dir_all(&sdk).unwrap();
    std::fs::write(
        sdk.join("Cargo.toml"),
        "[package]\nname = \"trellis-sdk\"\n",
    )
    .unwrap();
    succeeded(trellis(
        &[
            "integration",
            "new",
            "relative",
            "--sdk-path",
            sdk.to_str().unwrap(),
        ],
        &dir,
    ));
    let cargo_toml = std::fs::read_to_string(dir.join("relative/Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(r#"trellis-sdk = { path = "../vendor/trellis-sdk" }"#),
        "{cargo_toml}"
    );

    let stderr = failed(trellis(
        &[
            "integration",
            "new",
            "nowhere",
            "--sdk-path",
            dir.join("missing").to_str().unwrap(),
        ],
        &dir,
    ));
    assert!(stderr.contains("--sdk-path"), "{stderr}");
    assert!(!dir.join("nowhere").exists());
}

#[test]
fn build_refuses_a_python_project_without_app_py_and_a_javascript_one_without_its_package() {
    let dir = temp_dir("scaffold-languages");
    let manifest = |language: &str| {
        format!("[integration]\nname = \"other\"\nversion = \"0.1.0\"\nlanguage = \"{language}\"\n")
    };
    std::fs::write(dir.join("trellis.toml"), manifest("python")).unwrap();
    let stderr = failed(trellis(&["integration", "build"], &dir));
    assert!(
        stderr.contains("is a python integration but has no app.py"),
        "{stderr}"
    );
    std::fs::write(dir.join("trellis.toml"), manifest("javascript")).unwrap();
    let stderr = failed(trellis(&["integration", "build"], &dir));
    assert!(stderr.contains("has no package.json"), "{stderr}");
    std::fs::write(dir.join("package.json"), r#"{"name": "other"}"#).unwrap();
    let stderr = failed(trellis(&["integration", "build"], &dir));
    assert!(
        stderr.contains("@bytecodealliance/componentize-js"),
        "{stderr}"
    );
    std::fs::remove_file(dir.join("trellis.toml")).unwrap();
    let stderr = failed(trellis(&["integration", "build"], &dir));
    assert!(stderr.contains("trellis.toml"), "{stderr}");
}

/// Copies the example `integrations/NAME` (its `files`) to a fresh folder, builds it with
/// `trellis integration build`, checks the component, and runs it once with `dev` on a server:
/// the echo must come back.
async fn build_and_dev_a_copy_of(name: &str, files: &[&str]) {
    let dir = temp_dir(&format!("scaffold-{name}"));
    let project = dir.join(name);
    std::fs::create_dir_all(&project).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../integrations")
        .join(name);
    for file in files {
        std::fs::copy(example.join(file), project.join(file)).unwrap();
    }
    let input = json!({"from": name});
    build_and_dev(&dir, &project, name, &input, &input).await;
}

/// `integration new NAME --language LANGUAGE` writes `files`, and the project builds and runs
/// as written: invoked with a name, it greets it.
async fn new_project_builds_and_dev_runs_it(language: &str, files: &[&str]) {
    let name = format!("greeter-{language}");
    let dir = temp_dir(&format!("scaffold-new-{language}"));
    let project = dir.join(&name);
    let created = succeeded(trellis(
        &[
            "integration",
            "new",
            &name,
            "--language",
            language,
            "--dir",
            project.to_str().unwrap(),
        ],
        &dir,
    ));
    assert!(
        created.contains(&format!("integration {name}")),
        "{created}"
    );
    for file in files {
        assert!(project.join(file).is_file(), "{file}");
    }
    build_and_dev(
        &dir,
        &project,
        &name,
        &json!({"name": "Ada"}),
        &json!({"greeting": "Hello, Ada!"}),
    )
    .await;
}

/// Builds the project with `trellis integration build`, checks it is a component, and runs it
/// once with `input` through `dev` on a fresh server, expecting `expected`; removes `dir`.
async fn build_and_dev(dir: &Path, project: &Path, name: &str, input: &Value, expected: &Value) {
    let project_arg = project.to_str().unwrap();
    let built = succeeded(trellis(
        &["integration", "build", "--dir", project_arg],
        dir,
    ));
    let component = format!("dist/{name}.wasm");
    assert!(built.contains(&component), "{built}");
    let bytes = std::fs::read(project.join(&component)).unwrap();
    // A component, not a core module: the layer byte after the version is 1.
    assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "{built}");

    let data = dir.join("data");
    let token = owner_token(data.to_str().unwrap());
    let server = Server::start(&data, false).await;
    let url = format!("http://127.0.0.1:{}", server.port);
    let stdout = succeeded(trellis(
        &[
            "integration",
            "dev",
            "--dir",
            project_arg,
            "--input",
            &input.to_string(),
            "--server",
            &url,
            "--token",
            &token,
        ],
        dir,
    ));
    let output = stdout
        .lines()
        .find_map(|line| line.strip_prefix("output: "))
        .unwrap_or_else(|| panic!("no output: {stdout}"));
    assert_eq!(
        &serde_json::from_str::<Value>(output).unwrap(),
        expected,
        "{stdout}"
    );
    drop(server);
    // A JavaScript project's node_modules is a few hundred megabytes.
    std::fs::remove_dir_all(dir).ok();
}

/// A JavaScript project (a copy of integrations/echo-js) builds with `trellis integration
/// build` (npm ci, then componentize-js against the world narrowed to the manifest's scopes),
/// and `dev` registers, installs and runs it on a server.
#[tokio::test]
async fn a_javascript_project_builds_with_componentize_js_and_dev_runs_it() {
    build_and_dev_a_copy_of(
        "echo-js",
        &[
            "index.js",
            "package.json",
            "package-lock.json",
            "trellis.toml",
        ],
    )
    .await;
}

/// A Python project (a copy of integrations/echo-py) builds with `trellis integration build`
/// (componentize-py against the world narrowed to the manifest's scopes, WASI stubbed out), and
/// `dev` registers, installs and runs it on a server. It needs componentize-py on the PATH, and
/// fails rather than skips without it; CI installs it.
#[tokio::test]
async fn a_python_project_builds_with_componentize_py_and_dev_runs_it() {
    build_and_dev_a_copy_of("echo-py", &["app.py", "trellis.toml"]).await;
}

/// `integration new --language javascript`: an npm project (`npm install` on the first build).
#[tokio::test]
async fn a_new_javascript_project_builds_and_dev_runs_it() {
    new_project_builds_and_dev_runs_it(
        "javascript",
        &[
            "package.json",
            "index.js",
            "trellis.toml",
            ".gitignore",
            "README.md",
        ],
    )
    .await;
}

/// `integration new --language python`: `app.py` for componentize-py.
#[tokio::test]
async fn a_new_python_project_builds_and_dev_runs_it() {
    new_project_builds_and_dev_runs_it(
        "python",
        &["app.py", "trellis.toml", ".gitignore", "README.md"],
    )
    .await;
}

/// A Python project whose manifest keeps outbound HTTP (a copy of integrations/fetch-py) is built
/// without componentize-py's WASI stubs, which would stub `wasi:http` too: its request reaches
/// the host's egress check, which refuses an origin the manifest does not declare with a WASI
/// error code that the app reports. Built with the stubs, the request would trap instead.
#[tokio::test]
async fn a_python_project_with_egress_sends_through_wasi_http() {
    let dir = temp_dir("scaffold-fetch-py");
    let project = dir.join("fetch-py");
    std::fs::create_dir_all(&project).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/fetch-py");
    for file in ["app.py", "trellis.toml"] {
        std::fs::copy(example.join(file), project.join(file)).unwrap();
    }
    let project_arg = project.to_str().unwrap();
    let built = succeeded(trellis(
        &["integration", "build", "--dir", project_arg],
        &dir,
    ));
    assert!(built.contains("dist/fetch-py.wasm"), "{built}");

    let data = dir.join("data");
    let token = owner_token(data.to_str().unwrap());
    let server = Server::start(&data, false).await;
    let url = format!("http://127.0.0.1:{}", server.port);
    // Port 9 (discard) on loopback: not an origin the manifest declares.
    let target = "http://127.0.0.1:9/";
    let input = json!({ "url": target }).to_string();
    let output = trellis(
        &[
            "integration",
            "dev",
            "--dir",
            project_arg,
            "--input",
            &input,
            "--server",
            &url,
            "--token",
            &token,
        ],
        &dir,
    );
    let stderr = failed(output.clone());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stderr.contains("the run ended error"), "{}", text(&output));
    assert!(
        stdout.contains(&format!(
            "fetch {target} failed: ErrorCode_HttpRequestDenied()"
        )),
        "{}",
        text(&output)
    );
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
