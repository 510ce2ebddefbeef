//! The command line: help text, users, tokens, and the demo workspace's access rules.

use serde_json::json;

use super::{Server, cli, temp_dir};

#[test]
fn help_describes_every_command() {
    let help = std::process::Command::new(super::BIN)
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "token", "user"] {
        assert!(
            text.contains(command),
            "--help should list {command}: {text}"
        );
    }
    let serve = std::process::Command::new(super::BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&serve.stdout);
    for flag in ["--addr", "--data-dir", "--database-url", "--demo"] {
        assert!(text.contains(flag), "serve --help should describe {flag}");
    }
    let bad = std::process::Command::new(super::BIN)
        .args([
            "user",
            "create",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "king",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("owner, member or guest"));
}

#[tokio::test]
async fn demo_users_tokens_and_trimming() {
    let dir = temp_dir("demo");
    let data_dir = dir.to_str().unwrap();
    let server = Server::start(&dir, true).await;
    // Tokens are created by the CLI while the server runs.
    let ada = cli(&[
        "token",
        "create",
        "--user",
        "ada@example.com",
        "--data-dir",
        data_dir,
    ]);
    let ben = cli(&[
        "token",
        "create",
        "--user",
        "ben@example.com",
        "--data-dir",
        data_dir,
    ]);
    let cy = cli(&[
        "token",
        "create",
        "--user",
        "cy@example.com",
        "--data-dir",
        data_dir,
    ]);
    let bot = cli(&[
        "token",
        "create",
        "--integration",
        "Helper",
        "--data-dir",
        data_dir,
    ]);
    let user_id = cli(&[
        "user",
        "create",
        "--email",
        "dee@example.com",
        "--name",
        "Dee",
        "--data-dir",
        data_dir,
    ]);
    assert_eq!(user_id.len(), 36);

    let search = |token: String, query: &'static str| {
        let server = &server;
        async move {
            let (status, body) = server
                .request(
                    "POST",
                    "/v1/search",
                    Some(&token),
                    Some(&json!({"query": query})),
                )
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
            body["results"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        search(ada.clone(), "Salary").await,
        1,
        "Ada sees the Finance tree"
    );
    assert_eq!(search(ben.clone(), "Salary").await, 0, "Ben does not");
    assert_eq!(search(cy.clone(), "Salary").await, 0, "Cy does not");
    assert!(
        search(cy.clone(), "Atlas").await >= 2,
        "Cy sees the Atlas pages shared with him"
    );
    assert_eq!(
        search(cy.clone(), "Company Wiki").await,
        0,
        "the guest sees nothing else"
    );
    assert_eq!(
        search(bot, "").await,
        0,
        "an integration sees nothing until shared"
    );
    assert!(search(ben, "Tasks").await >= 1);

    // Loading the demo again is a no-op.
    drop(server);
    let server = Server::start(&dir, true).await;
    let (_, body) = server
        .request(
            "POST",
            "/v1/search",
            Some(&ada),
            Some(&json!({"query": "Company Wiki"})),
        )
        .await
        .unwrap();
    assert_eq!(
        body["results"].as_array().unwrap().len(),
        1,
        "the demo was loaded twice"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

/// Pointed at a directory without a workspace, a command says which directory and how to
/// choose another, and leaves nothing behind.
#[test]
fn commands_refuse_a_data_directory_without_a_workspace() {
    let dir = temp_dir("empty");
    let data_dir = dir.to_str().unwrap();
    for args in [
        vec!["token", "create", "--user", "ada@example.com"],
        vec!["search", "anything", "--as", "ada@example.com"],
        vec!["workspace", "set", "--members-access", "none"],
    ] {
        let output = std::process::Command::new(super::BIN)
            .args(&args)
            .args(["--data-dir", data_dir])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(data_dir), "{args:?}: {stderr}");
        assert!(stderr.contains("--data-dir"), "{args:?}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
    // A directory that does not exist is not created either.
    let missing = dir.join("nope");
    let output = std::process::Command::new(super::BIN)
        .args(["token", "create", "--user", "a@example.com", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!missing.exists());
}

/// `trellis -h`, then each command's, recursively: every argument and option has a line
/// of help text.
#[test]
fn every_argument_has_help_text() {
    fn help(path: &[String]) -> String {
        // `-h`: the short form puts each argument's help on its own line.
        let output = std::process::Command::new(super::BIN)
            .args(path)
            .arg("-h")
            .output()
            .unwrap();
        assert!(output.status.success(), "{path:?} --help");
        String::from_utf8_lossy(&output.stdout).to_string()
    }
    let mut pending = vec![Vec::<String>::new()];
    let mut checked = 0;
    while let Some(path) = pending.pop() {
        let text = help(&path);
        let mut section = "";
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().copied().enumerate() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            let Some(entry) = line.strip_prefix("  ") else {
                continue;
            };
            if entry.starts_with(' ') || entry.is_empty() {
                continue;
            }
            match section {
                "Commands:" => {
                    let name = entry.split_whitespace().next().unwrap();
                    if name != "help" {
                        let mut next = path.clone();
                        next.push(name.to_string());
                        pending.push(next);
                    }
                }
                "Arguments:" | "Options:" => {
                    // `NAME  help`, or (when some entry is too wide for that) the help on
                    // the next line, indented further.
                    let same_line = entry
                        .split_once("  ")
                        .is_some_and(|(_, rest)| !rest.trim().is_empty());
                    let next_line = lines
                        .get(index + 1)
                        .is_some_and(|next| next.starts_with("      ") && !next.trim().is_empty());
                    let described = same_line || next_line;
                    assert!(
                        described,
                        "`trellis {}`: `{entry}` has no help text",
                        path.join(" ")
                    );
                    checked += 1;
                }
                _ => {}
            }
        }
    }
    assert!(checked > 20, "only {checked} arguments were found");
}
