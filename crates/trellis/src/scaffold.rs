//! `trellis integration new`: a new integration project, written from templates embedded in the
//! binary (`src/scaffold/*.in`), so that the binary works away from the source tree.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use integrations::Language;

use crate::project::{MANIFEST_FILE, toml_string};

/// Longest integration name, in characters: `NAME_CHARS_MAX` in
/// crates/integrations/src/manifest.rs, which does not export it.
const NAME_CHARS_MAX: usize = 64;

const MANIFEST_TEMPLATE: &str = include_str!("scaffold/trellis.toml.in");
const JAVASCRIPT_MANIFEST_TEMPLATE: &str = include_str!("scaffold/javascript/trellis.toml.in");
const PYTHON_MANIFEST_TEMPLATE: &str = include_str!("scaffold/python/trellis.toml.in");

/// The files of a new Rust project: where each goes, and its template. `{{name}}`,
/// `{{crate_name}}` and `{{sdk_path}}` (a TOML string) are filled in.
const RUST_FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.in")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.in")),
    (MANIFEST_FILE, MANIFEST_TEMPLATE),
    (".gitignore", include_str!("scaffold/gitignore.in")),
    ("README.md", include_str!("scaffold/README.md.in")),
];

/// The files of a new JavaScript project (`{{name}}` filled in): an npm project that
/// `trellis integration build` installs and componentizes.
const JAVASCRIPT_FILES: &[(&str, &str)] = &[
    (
        "package.json",
        include_str!("scaffold/javascript/package.json.in"),
    ),
    ("index.js", include_str!("scaffold/javascript/index.js.in")),
    (MANIFEST_FILE, JAVASCRIPT_MANIFEST_TEMPLATE),
    (
        ".gitignore",
        include_str!("scaffold/javascript/gitignore.in"),
    ),
    (
        "README.md",
        include_str!("scaffold/javascript/README.md.in"),
    ),
];

/// The files of a new Python project (`{{name}}` filled in), built by componentize-py.
const PYTHON_FILES: &[(&str, &str)] = &[
    ("app.py", include_str!("scaffold/python/app.py.in")),
    (MANIFEST_FILE, PYTHON_MANIFEST_TEMPLATE),
    (".gitignore", include_str!("scaffold/python/gitignore.in")),
    ("README.md", include_str!("scaffold/python/README.md.in")),
];

/// How people write the language's name.
pub fn language_name(language: Language) -> &'static str {
    match language {
        Language::Rust => "Rust",
        Language::Javascript => "JavaScript",
        Language::Python => "Python",
    }
}

/// The manifest template and the files of a new project in `language`.
fn templates(language: Language) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match language {
        Language::Rust => (MANIFEST_TEMPLATE, RUST_FILES),
        Language::Javascript => (JAVASCRIPT_MANIFEST_TEMPLATE, JAVASCRIPT_FILES),
        Language::Python => (PYTHON_MANIFEST_TEMPLATE, PYTHON_FILES),
    }
}

/// What `create` made.
pub struct Scaffold {
    pub dir: PathBuf,
    /// For a Rust project, the SDK path as written in Cargo.toml.
    pub sdk_path: Option<String>,
    /// False when the SDK was not found where this binary was built (Cargo.toml then names a
    /// path that does not exist here).
    pub sdk_found: bool,
}

/// Writes a new integration project in `language` named `name` into `dir` (default `./NAME`),
/// which must not exist or be empty. A Rust project's SDK dependency is `sdk_path`, or the SDK
/// of the Trellis source tree this binary was built from.
pub fn create(
    name: &str,
    language: Language,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> Result<Scaffold> {
    check_name(name)?;
    if sdk_path.is_some() && language != Language::Rust {
        bail!(
            "--sdk-path is for Rust projects; a {} project does not use the Rust SDK",
            language_name(language)
        );
    }
    let (manifest_template, files) = templates(language);
    // The manifest's own rules are the authority: never write one the server would refuse.
    integrations::Manifest::parse(&manifest_template.replace("{{name}}", name))
        .with_context(|| format!("the scaffold's {MANIFEST_FILE} for `{name}`"))?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; give another NAME or --dir",
                    dir.display()
                );
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    }
    if language != Language::Rust {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_files(&dir, files, |template| template.replace("{{name}}", name))?;
        return Ok(Scaffold {
            dir,
            sdk_path: None,
            sdk_found: true,
        });
    }
    let (sdk, sdk_found) = match sdk_path {
        Some(path) => {
            let sdk = path
                .canonicalize()
                .with_context(|| format!("--sdk-path {}", path.display()))?;
            if !sdk.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk-path {} is not a crate (no Cargo.toml): give the folder sdk/rust/trellis-sdk of a Trellis checkout",
                    path.display()
                );
            }
            (sdk, true)
        }
        None => {
            let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/rust/trellis-sdk");
            match built_in.canonicalize() {
                Ok(sdk) => (sdk, true),
                Err(_) => (built_in, false),
            }
        }
    };

    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let project = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let sdk_path = match relative_path(&project, &sdk) {
        Some(relative) => slash_separated(&relative)?,
        None => sdk
            .to_str()
            .with_context(|| format!("the SDK path {} is not UTF-8", sdk.display()))?
            .to_string(),
    };
    let crate_name = name.replace('-', "_");
    let render = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk_path}}", &toml_string(&sdk_path))
    };

    write_files(&dir, files, render)?;
    Ok(Scaffold {
        dir,
        sdk_path: Some(sdk_path),
        sdk_found,
    })
}

/// Writes each of `files` under `dir`, rendered by `render`.
fn write_files(dir: &Path, files: &[(&str, &str)], render: impl Fn(&str) -> String) -> Result<()> {
    for (path, template) in files {
        let path = dir.join(path);
        // create_new: a file that appeared since the emptiness check is never overwritten.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| file.write_all(render(template).as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Checks a name the way the manifest does (1 to 64 lowercase letters, digits and '-', not
/// starting with '-'), and what Cargo adds for the project's crate.
pub fn check_name(name: &str) -> Result<()> {
    if !integrations::is_valid_name(name) {
        bail!(
            "`{name}` is not an integration name: use 1 to {NAME_CHARS_MAX} lowercase letters, digits and '-', not starting with '-'"
        );
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!(
            "`{name}` starts with a digit, which Cargo refuses in a package name: start it with a letter"
        );
    }
    if name == "trellis-sdk" {
        bail!("`trellis-sdk` is the SDK's own name, which the project depends on: choose another");
    }
    Ok(())
}

/// `to` relative to the folder `from`, both absolute and canonical. None when they share nothing
/// below the root (or sit on different drives): an absolute path reads better then.
fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from
        .iter()
        .zip(&to)
        .take_while(|(left, right)| left == right)
        .count();
    if !from[..common]
        .iter()
        .any(|component| matches!(component, Component::Normal(_)))
    {
        return None;
    }
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    Some(path)
}

/// A relative path with '/' between its parts, which Cargo reads on every platform.
fn slash_separated(path: &Path) -> Result<String> {
    let parts = path
        .iter()
        .map(|part| {
            part.to_str()
                .with_context(|| format!("the SDK path {} is not UTF-8", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffold_names_follow_the_manifest_and_cargo() {
        for good in ["hello", "a", "titles-2", "x-", "a--b", &"a".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "-hello",
            "hello_world",
            "hello world",
            "héllo",
            "9lives",
            "trellis-sdk",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scaffold_sdk_path_is_relative_below_a_shared_folder() {
        assert_eq!(
            relative_path(
                Path::new("/home/ada/code/hello"),
                Path::new("/home/ada/trellis/sdk/rust/trellis-sdk")
            ),
            Some(PathBuf::from("../../trellis/sdk/rust/trellis-sdk"))
        );
        assert_eq!(
            relative_path(Path::new("/tmp/hello"), Path::new("/work/trellis/sdk")),
            None
        );
        assert_eq!(
            slash_separated(Path::new("../../trellis/sdk")).unwrap(),
            "../../trellis/sdk"
        );
    }

    #[test]
    fn javascript_and_python_scaffolds_declare_their_language_and_no_scopes() {
        for (language, entry) in [
            (Language::Javascript, "index.js"),
            (Language::Python, "app.py"),
        ] {
            let (template, files) = templates(language);
            let manifest =
                integrations::Manifest::parse(&template.replace("{{name}}", "greeter")).unwrap();
            assert_eq!(manifest.integration.language, language);
            assert!(manifest.scopes.workspace.is_empty());
            assert!(manifest.triggers.invoke);
            assert!(files.iter().any(|(path, _)| *path == entry), "{entry}");
            assert!(files.iter().any(|(path, _)| *path == MANIFEST_FILE));
        }
        let dir = std::env::temp_dir().join(format!("trellis-scaffold-{}", std::process::id()));
        let error = create(
            "greeter",
            Language::Python,
            Some(dir.clone()),
            Some(dir.clone()),
        )
        .err()
        .unwrap();
        assert!(
            error.to_string().contains("--sdk-path is for Rust"),
            "{error}"
        );
        assert!(!dir.exists(), "nothing is written for a refused request");
    }

    #[test]
    fn scaffold_manifest_parses_for_every_valid_name() {
        for name in ["hello", "a", "x-", &"z".repeat(64)] {
            let text = MANIFEST_TEMPLATE.replace("{{name}}", name);
            let manifest = integrations::Manifest::parse(&text).unwrap();
            assert_eq!(manifest.integration.name, name);
            assert_eq!(manifest.integration.version, "0.1.0");
            assert_eq!(manifest.integration.language, integrations::Language::Rust);
            assert_eq!(
                manifest.scopes.workspace,
                [integrations::WorkspaceScope::ReadContent]
            );
            assert!(manifest.triggers.invoke);
        }
    }
}
