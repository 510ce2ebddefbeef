//! An integration project on disk: its manifest, the build of its component, and the
//! development versions `trellis integration dev` registers it under.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail, ensure};
use integrations::{Language, Manifest};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The manifest's file name, at the project's root.
pub const MANIFEST_FILE: &str = "trellis.toml";
/// The target Rust integrations build for.
const WASM_TARGET: &str = "wasm32-wasip2";
/// Bytes of the content hash a development version carries (as hex, twice as many characters).
const DEV_HASH_BYTES: usize = 4;

/// A project's folder and its parsed manifest.
pub struct Project {
    pub dir: PathBuf,
    /// The text of trellis.toml, as the server will parse it.
    pub manifest_text: String,
    pub manifest: Manifest,
}

impl Project {
    pub fn open(dir: &Path) -> Result<Project> {
        let path = dir.join(MANIFEST_FILE);
        let manifest_text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (give --dir the folder of an integration project)",
                path.display()
            )
        })?;
        let manifest =
            Manifest::parse(&manifest_text).with_context(|| format!("in {}", path.display()))?;
        Ok(Project {
            dir: dir.to_path_buf(),
            manifest_text,
            manifest,
        })
    }

    /// `NAME VERSION` from the manifest.
    pub fn title(&self) -> String {
        format!(
            "{} {}",
            self.manifest.integration.name, self.manifest.integration.version
        )
    }
}

/// A built component.
pub struct Component {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Component {
    pub fn describe(&self) -> String {
        format!(
            "{} ({} bytes, {:.1} KiB)",
            self.path.display(),
            self.bytes.len(),
            self.bytes.len() as f64 / 1024.0
        )
    }
}

/// Builds the project's component with the toolchain of its language. Build output streams to
/// stderr.
pub fn build(project: &Project) -> Result<Component> {
    match project.manifest.integration.language {
        Language::Rust => build_rust(&project.dir),
        Language::Javascript => build_javascript(project),
        Language::Python => build_python(project),
    }
}

/// `cargo build --release --target wasm32-wasip2`. Cargo's JSON messages name the component it
/// wrote, so its name and target directory (`[lib] name`, `CARGO_TARGET_DIR`, `.cargo/config`)
/// need no guessing; its diagnostics and progress still go to stderr as usual.
fn build_rust(dir: &Path) -> Result<Component> {
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!(
            "{} is a rust integration but has no Cargo.toml",
            dir.display()
        );
    }
    let cargo_toml = cargo_toml.canonicalize()?;
    check_rust_target(dir)?;
    let mut cargo = Command::new("cargo")
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo (install Rust from https://rustup.rs)")?;
    let stdout = cargo.stdout.take().context("cargo's stdout")?;
    let mut components = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            // Not one of cargo's messages (a build script may print): pass it on.
            println!("{line}");
            continue;
        };
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"));
        let of_this_project = message["manifest_path"]
            .as_str()
            .and_then(|path| Path::new(path).canonicalize().ok())
            .is_some_and(|path| path == cargo_toml);
        if message["reason"] == "compiler-artifact" && is_cdylib && of_this_project {
            components.extend(
                message["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|file| file.ends_with(".wasm"))
                    .map(PathBuf::from),
            );
        }
    }
    let status = cargo.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed in {} ({status})", dir.display());
    }
    let path = components.pop().ok_or_else(|| {
        anyhow!("cargo built no component: Cargo.toml needs crate-type = [\"cdylib\"] under [lib]")
    })?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the component {}", path.display()))?;
    Ok(Component { path, bytes })
}

/// The contract, as this binary was built with it.
const WORLD_WIT: &str = include_str!("../../../wit/world.wit");
/// The WASI packages the contract's `wasi:http/outgoing-handler` import resolves against
/// (`wit/deps`), written beside the world only when it keeps that import.
const WIT_DEPS: [(&str, &str); 7] = [
    ("cli.wit", include_str!("../../../wit/deps/cli.wit")),
    ("clocks.wit", include_str!("../../../wit/deps/clocks.wit")),
    (
        "filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("http.wit", include_str!("../../../wit/deps/http.wit")),
    ("io.wit", include_str!("../../../wit/deps/io.wit")),
    ("random.wit", include_str!("../../../wit/deps/random.wit")),
    ("sockets.wit", include_str!("../../../wit/deps/sockets.wit")),
];
/// The world's import that the `http` scope grants.
const HTTP_IMPORT: &str = "wasi:http/outgoing-handler";
/// The world JavaScript and Python components are built against.
const WORLD_NAME: &str = "trellis:integration/integration";
/// The npm package that turns JavaScript into a component (StarlingMonkey inside).
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js";
/// Runs `componentize()` (the `jco componentize` CLI fails on some machines with "os error 44").
/// Every WASI feature it can drop is disabled, so the component imports only Trellis's
/// interfaces, except `http` when the manifest declares egress: that feature implements `fetch`
/// over `wasi:http/outgoing-handler` (and the `wasi:io` streams it uses).
/// Arguments: source file, WIT folder, world, output file, `http` or `no-http`.
const COMPONENTIZE_SCRIPT: &str = r#"
import { writeFile } from 'node:fs/promises';
import { componentize } from '@bytecodealliance/componentize-js';
const [sourcePath, witPath, worldName, outPath, http] = process.argv.slice(1);
const disableFeatures = ['stdio', 'random', 'clocks', 'fetch-event'];
if (http !== 'http') disableFeatures.push('http');
const { component } = await componentize({ sourcePath, witPath, worldName, disableFeatures });
await writeFile(outPath, component);
"#;

/// The world's imports a manifest's scopes grant, by interface name (`log` needs no scope;
/// `http` is `wasi:http/outgoing-handler`).
pub fn granted_imports(manifest: &Manifest) -> Vec<&'static str> {
    let scopes = &manifest.scopes;
    [
        ("workspace", !scopes.workspace.is_empty()),
        ("models", scopes.models),
        ("vector-search", scopes.vector_search),
        ("http", !manifest.egress.allow.is_empty()),
        ("kv", scopes.kv),
        ("secrets", !scopes.secrets.is_empty()),
        ("log", true),
    ]
    .into_iter()
    .filter_map(|(name, granted)| granted.then_some(name))
    .collect()
}

/// The world with only the imports in `keep`. componentize-js and componentize-py import every
/// interface of the world they are given, used or not, and Trellis refuses a component that
/// imports an interface its manifest does not declare; the package and world names stay, so the
/// export is the contract's.
pub fn narrowed_world(wit: &str, keep: &[&str]) -> String {
    wit.lines()
        .filter(|line| {
            let import = line
                .trim()
                .strip_prefix("import ")
                .and_then(|rest| rest.strip_suffix(';'))
                .map(str::trim);
            match import {
                Some(name) if name.chars().all(|c| c.is_ascii_lowercase() || c == '-') => {
                    keep.contains(&name)
                }
                Some(name) if name.split('@').next() == Some(HTTP_IMPORT) => keep.contains(&"http"),
                _ => true,
            }
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A JavaScript integration: an npm project whose `package.json` has `@bytecodealliance/
/// componentize-js` among its dependencies, its entry module `main` (default `index.js`)
/// exporting `handle`. `npm ci` (or `npm install` without a lock file) runs when the package is
/// not installed yet; the component goes to `dist/NAME.wasm`.
fn build_javascript(project: &Project) -> Result<Component> {
    let dir = project.dir.canonicalize()?;
    let package_path = dir.join("package.json");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(&package_path).with_context(|| {
            format!(
                "{} is a javascript integration but has no package.json",
                dir.display()
            )
        })?)
        .with_context(|| format!("parsing {}", package_path.display()))?;
    let declared = ["dependencies", "devDependencies"]
        .iter()
        .any(|key| package[key].get(COMPONENTIZE_JS).is_some());
    ensure!(
        declared,
        "package.json should list {COMPONENTIZE_JS} in devDependencies: `npm install --save-dev {COMPONENTIZE_JS}`"
    );
    let entry = dir.join(package["main"].as_str().unwrap_or("index.js"));
    ensure!(
        entry.is_file(),
        "the entry module {} is missing",
        entry.display()
    );
    if !dir.join("node_modules").join(COMPONENTIZE_JS).is_dir() {
        let install = if dir.join("package-lock.json").is_file() {
            "ci"
        } else {
            "install"
        };
        eprintln!("npm {install} in {}", dir.display());
        let status = Command::new("npm")
            .arg(install)
            .current_dir(&dir)
            .stdout(Stdio::inherit())
            .status()
            .context("running npm (install Node.js 18 or newer)")?;
        ensure!(status.success(), "npm {install} failed ({status})");
    }
    let path = dist_path(&dir, project)?;
    let (wit_dir, imports) = write_narrowed_world(&project.manifest)?;
    eprintln!(
        "componentize {} (imports: {})",
        entry.display(),
        imports.join(", ")
    );
    // An `--eval` module resolves bare imports from the working directory: the project's.
    let status = Command::new("node")
        .args(["--input-type=module", "--eval", COMPONENTIZE_SCRIPT])
        .arg(&entry)
        .arg(&wit_dir)
        .arg(WORLD_NAME)
        .arg(&path)
        .arg(if imports.contains(&"http") {
            "http"
        } else {
            "no-http"
        })
        .current_dir(&dir)
        .status()
        .context("running node (install Node.js 18 or newer)");
    std::fs::remove_dir_all(&wit_dir).ok();
    let status = status?;
    ensure!(status.success(), "componentize-js failed ({status})");
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the component {}", path.display()))?;
    Ok(Component { path, bytes })
}

/// The command that builds Python components (a CPython build inside), from PyPI.
const COMPONENTIZE_PY: &str = "componentize-py";
/// The module a Python integration's code is in: `app.py`, at the project's root. It must not be
/// named after the world (`integration`), whose bindings componentize-py generates as a module.
const PYTHON_APP_MODULE: &str = "app";

/// A Python integration: a folder with `app.py`, defining a class `WitWorld` that subclasses the
/// `wit_world.WitWorld` componentize-py generates and implements `handle`. componentize-py
/// (`pip install componentize-py`) builds it against the world narrowed to the manifest's
/// scopes, with every WASI import replaced by a trapping stub (`--stub-wasi`), so that the
/// component imports only Trellis's interfaces (the stubs also fix the seed of Python's `random`
/// at build time). componentize-py stubs every `wasi:` import, `wasi:http` included, so a
/// project whose manifest keeps outbound HTTP is built without stubs: it then imports the WASI
/// interfaces CPython uses too, which the host links with nothing behind them (no files,
/// environment or sockets), and its requests go through `wasi:http` and the egress checks
/// (`integrations/fetch-py`). Modules `app.py` imports from its folder or from the active
/// virtual environment go into the component too. The component goes to `dist/NAME.wasm`.
fn build_python(project: &Project) -> Result<Component> {
    let dir = project.dir.canonicalize()?;
    let app = dir.join(format!("{PYTHON_APP_MODULE}.py"));
    ensure!(
        app.is_file(),
        "{} is a python integration but has no {PYTHON_APP_MODULE}.py: the module whose class \
         WitWorld handles events",
        dir.display()
    );
    let version = match Command::new(COMPONENTIZE_PY).arg("--version").output() {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_string()
        }
        Ok(output) => bail!(
            "`{COMPONENTIZE_PY} --version` failed ({}): install or reinstall it with `pip install {COMPONENTIZE_PY}`",
            output.status
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "{COMPONENTIZE_PY} is not on the PATH: install it with `pip install {COMPONENTIZE_PY}`"
        ),
        Err(error) => return Err(error).context(format!("running {COMPONENTIZE_PY}")),
    };
    let path = dist_path(&dir, project)?;
    let (wit_dir, imports) = write_narrowed_world(&project.manifest)?;
    eprintln!(
        "{version}: componentize {} (imports: {})",
        app.display(),
        imports.join(", ")
    );
    // Its progress line goes to stderr with the rest of the build's output.
    let mut command = Command::new(COMPONENTIZE_PY);
    command
        .arg("--wit-path")
        .arg(&wit_dir)
        .args(["--world", WORLD_NAME, "componentize", PYTHON_APP_MODULE])
        .arg("--python-path")
        .arg(&dir);
    if !imports.contains(&"http") {
        command.arg("--stub-wasi");
    }
    let status = command
        .arg("--output")
        .arg(&path)
        .current_dir(&dir)
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("running {COMPONENTIZE_PY}"));
    std::fs::remove_dir_all(&wit_dir).ok();
    let status = status?;
    ensure!(status.success(), "{COMPONENTIZE_PY} failed ({status})");
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the component {}", path.display()))?;
    Ok(Component { path, bytes })
}

/// Writes the world narrowed to what the manifest grants into a new temporary folder, for a
/// componentize tool. Returns the folder, which the caller removes, and the imports kept.
fn write_narrowed_world(manifest: &Manifest) -> Result<(PathBuf, Vec<&'static str>)> {
    let wit_dir = std::env::temp_dir().join(format!("trellis-wit-{}", std::process::id()));
    std::fs::create_dir_all(&wit_dir).with_context(|| format!("creating {}", wit_dir.display()))?;
    let imports = granted_imports(manifest);
    std::fs::write(
        wit_dir.join("world.wit"),
        narrowed_world(WORLD_WIT, &imports),
    )
    .with_context(|| format!("writing the world into {}", wit_dir.display()))?;
    if imports.contains(&"http") {
        let deps = wit_dir.join("deps");
        std::fs::create_dir_all(&deps).with_context(|| format!("creating {}", deps.display()))?;
        for (name, text) in WIT_DEPS {
            std::fs::write(deps.join(name), text)
                .with_context(|| format!("writing {name} into {}", deps.display()))?;
        }
    }
    Ok((wit_dir, imports))
}

/// `dist/NAME.wasm` in the project, its folder created: where a componentize tool writes.
fn dist_path(dir: &Path, project: &Project) -> Result<PathBuf> {
    let out_dir = dir.join("dist");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    Ok(out_dir.join(format!("{}.wasm", project.manifest.integration.name)))
}

/// Fails with the command that fixes it when rustup lacks the wasm32-wasip2 target for the
/// project's toolchain. Without rustup (a distribution's Rust, say) cargo reports it instead.
fn check_rust_target(dir: &Path) -> Result<()> {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && !installed.lines().any(|line| line.trim() == WASM_TARGET) {
        bail!(
            "the Rust target {WASM_TARGET} is not installed for this project's toolchain: add it with `rustup target add {WASM_TARGET}`"
        );
    }
    Ok(())
}

/// The version `dev` registers a build under: the manifest's version with a pre-release part
/// made from a hash of the component and the manifest, e.g. `0.1.0-dev.3fa9c2d1`. The server
/// refuses other bytes or another manifest under a version it has; this way every change gets
/// its own version, and an unchanged build registers as the package it already is.
pub fn dev_version(version: &str, component: &[u8], manifest_text: &str) -> String {
    let digest = Sha256::new()
        .chain_update(component)
        .chain_update(manifest_text.as_bytes())
        .finalize();
    let hash: String = digest[..DEV_HASH_BYTES]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // Semantic versioning: build metadata comes last, and a version that already has a
    // pre-release gets one more identifier.
    let (release, build) = match version.split_once('+') {
        Some((release, build)) => (release, Some(build)),
        None => (version, None),
    };
    let mut dev = if release.contains('-') {
        format!("{release}.dev.{hash}")
    } else {
        format!("{release}-dev.{hash}")
    };
    if let Some(build) = build {
        dev.push('+');
        dev.push_str(build);
    }
    dev
}

/// The manifest text with `[integration] version` set to `version`; the rest of the text,
/// comments and layout included, is left as it is.
pub fn with_version(manifest_text: &str, version: &str) -> Result<String> {
    let document = toml::de::DeTable::parse(manifest_text)
        .map_err(|error| anyhow!("{MANIFEST_FILE}: {error}"))?;
    let toml::de::DeValue::Table(integration) = document
        .get_ref()
        .get("integration")
        .context("no [integration] table")?
        .get_ref()
    else {
        bail!("`integration` is not a table");
    };
    let span = integration
        .get("version")
        .context("no version in [integration]")?
        .span();
    let mut text = String::with_capacity(manifest_text.len() + version.len());
    text.push_str(&manifest_text[..span.start]);
    text.push_str(&toml_string(version));
    text.push_str(&manifest_text[span.end..]);
    let manifest = Manifest::parse(&text).context("the manifest with a development version")?;
    ensure!(
        manifest.integration.version == version,
        "setting the version to {version} gave {}",
        manifest.integration.version
    );
    Ok(text)
}

/// A TOML basic string holding `text`.
pub fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// What `dev --watch` compares between polls: every file under `src/`, `Cargo.toml`, the
/// manifest, and the JavaScript and Python modules and npm files at the project's top, with
/// their modification times and sizes. A file added or removed changes it too.
pub fn sources_snapshot(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.join("src")];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.push(dir.join("Cargo.toml"));
    files.push(dir.join(MANIFEST_FILE));
    // JavaScript and Python projects keep their modules at the top (`index.js`, `app.py`).
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let source = matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("js" | "mjs" | "cjs" | "py")
        );
        if path.is_file() && (source || name == "package.json" || name == "package-lock.json") {
            files.push(path);
        }
    }
    let mut snapshot: Vec<_> = files
        .into_iter()
        .map(|path| {
            let metadata = std::fs::metadata(&path).ok();
            let modified = metadata.as_ref().and_then(|meta| meta.modified().ok());
            let bytes = metadata.map_or(0, |meta| meta.len());
            (path, modified, bytes)
        })
        .collect();
    snapshot.sort();
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_sees_top_level_javascript_and_python_modules_but_not_build_output() {
        let dir = std::env::temp_dir().join(format!("trellis-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("dist")).unwrap();
        for file in [
            "index.js",
            "app.py",
            "package.json",
            "README.md",
            "dist/out.wasm",
        ] {
            std::fs::write(dir.join(file), "x").unwrap();
        }
        let before = sources_snapshot(&dir);
        let watched: Vec<_> = before
            .iter()
            .filter(|(_, modified, _)| modified.is_some())
            .map(|(path, _, _)| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(watched, ["app.py", "index.js", "package.json"]);
        std::fs::write(dir.join("app.py"), "xy").unwrap();
        assert_ne!(sources_snapshot(&dir), before, "an edit to app.py is seen");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_world_keeps_only_the_granted_imports_and_all_its_interfaces() {
        let manifest = Manifest::parse(
            "[integration]\nname = \"n\"\nversion = \"1.0.0\"\nlanguage = \"javascript\"\n\
             [scopes]\nworkspace = [\"read_content\"]\nkv = true\n",
        )
        .unwrap();
        let imports = granted_imports(&manifest);
        assert_eq!(imports, ["workspace", "kv", "log"]);
        let narrowed = narrowed_world(WORLD_WIT, &imports);
        for kept in [
            "import workspace;",
            "import kv;",
            "import log;",
            "export handle:",
        ] {
            assert!(narrowed.contains(kept), "{kept}");
        }
        for dropped in [
            "import wasi:http/outgoing-handler@0.2.12;",
            "import models;",
            "import vector-search;",
            "import secrets;",
        ] {
            assert!(
                WORLD_WIT.contains(dropped) && !narrowed.contains(dropped),
                "{dropped}"
            );
        }
        // Interfaces themselves stay (their `use` lines are not imports of the world).
        assert!(narrowed.contains("interface secrets {"));
        assert_eq!(
            narrowed.lines().count(),
            WORLD_WIT.lines().count() - 4,
            "only the four import lines went"
        );
    }

    #[test]
    fn declared_egress_keeps_the_wasi_http_import() {
        let manifest = Manifest::parse(
            "[integration]\nname = \"n\"\nversion = \"1.0.0\"\nlanguage = \"javascript\"\n\
             [egress]\nallow = [\"https://api.example.com\"]\n",
        )
        .unwrap();
        let imports = granted_imports(&manifest);
        assert_eq!(imports, ["http", "log"]);
        let narrowed = narrowed_world(WORLD_WIT, &imports);
        assert!(narrowed.contains("import wasi:http/outgoing-handler@0.2.12;"));
        assert!(!narrowed.contains("import kv;"));
    }

    const MANIFEST: &str = r#"# A comment that stays.
[integration]
name = "hello"
version = "0.1.0"  # the release
description = "version = \"9.9.9\" in a string"
language = "rust"

[scopes]
workspace = ["read_content"]
"#;

    #[test]
    fn project_dev_versions_are_valid_and_follow_the_content() {
        let version = dev_version("0.1.0", b"component", MANIFEST);
        assert!(version.starts_with("0.1.0-dev."), "{version}");
        assert_eq!(version.len(), "0.1.0-dev.".len() + 2 * DEV_HASH_BYTES);
        assert_eq!(version, dev_version("0.1.0", b"component", MANIFEST));
        assert_ne!(version, dev_version("0.1.0", b"component2", MANIFEST));
        assert_ne!(
            version,
            dev_version("0.1.0", b"component", &MANIFEST.replace("hello", "hullo"))
        );
        let pre = dev_version("1.2.3-beta.1+build.5", b"c", MANIFEST);
        assert!(pre.starts_with("1.2.3-beta.1.dev."), "{pre}");
        assert!(pre.ends_with("+build.5"), "{pre}");
        for version in [version, pre] {
            let text = with_version(MANIFEST, &version).unwrap();
            assert_eq!(Manifest::parse(&text).unwrap().integration.version, version);
        }
    }

    #[test]
    fn project_with_version_changes_only_the_version() {
        let text = with_version(MANIFEST, "0.1.0-dev.0badf00d").unwrap();
        assert_eq!(
            text,
            MANIFEST.replace("version = \"0.1.0\"", "version = \"0.1.0-dev.0badf00d\"")
        );
        let inline = "integration = { name = \"x\", version = '1.0.0', language = \"rust\" }\n";
        assert_eq!(
            with_version(inline, "1.0.0-dev.1").unwrap(),
            inline.replace("'1.0.0'", "\"1.0.0-dev.1\"")
        );
        assert!(with_version("[integration]\nname = \"x\"\n", "1.0.0").is_err());
    }

    #[test]
    fn project_toml_strings_escape_what_toml_needs() {
        assert_eq!(toml_string(r#"C:\sdk "x""#), r#""C:\\sdk \"x\"""#);
        assert_eq!(toml_string("a\u{7f}b"), r#""a\u007Fb""#);
    }
}
