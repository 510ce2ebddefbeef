//! `trellis token`: create with an expiry, list without secrets, revoke, beside a running server.

use std::process::Command;

use super::{BIN, Server, cli, owner_token, temp_dir};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[tokio::test]
async fn tokens_are_listed_and_revoked_from_the_command_line() {
    let dir = temp_dir("tokens");
    let data_dir = dir.to_str().unwrap();
    let owner = owner_token(data_dir);
    let server = Server::start(&dir, false).await;
    let expiring = cli(&[
        "token",
        "create",
        "--user",
        "owner@example.com",
        "--name",
        "deploy",
        "--expires-in-days",
        "7",
        "--data-dir",
        data_dir,
    ]);
    assert!(expiring.starts_with("trellis_"), "{expiring}");
    for token in [&owner, &expiring] {
        let (status, body) = server
            .request("GET", "/v1/users/me", Some(token), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }

    let list = run(&[
        "token",
        "list",
        "--user",
        "owner@example.com",
        "--data-dir",
        data_dir,
    ]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains(&owner) && !text.contains(&expiring),
        "{text}"
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let deploy = rows.iter().find(|row| row[2] == "deploy").unwrap();
    assert_eq!(deploy[1], "active");
    assert_ne!(deploy[5], "-", "the expiry is listed: {text}");
    assert_eq!(deploy[6], "-");

    let revoked = cli(&["token", "revoke", deploy[0], "--data-dir", data_dir]);
    assert!(
        revoked.starts_with(&format!("revoked token {}", deploy[0])),
        "{revoked}"
    );
    let (status, body) = server
        .request("GET", "/v1/users/me", Some(&expiring), None)
        .await
        .unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = server
        .request("GET", "/v1/users/me", Some(&owner), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let list = run(&["token", "list", "--data-dir", data_dir]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.lines()
            .any(|line| line.starts_with(deploy[0]) && line.contains("\trevoked\t")),
        "{text}"
    );

    for (args, expected) in [
        (&["token", "revoke", "not-an-id"][..], "not a token id"),
        (
            &["token", "revoke", "00000000-0000-0000-0000-000000000001"][..],
            "no token with id",
        ),
        (
            &[
                "token",
                "create",
                "--user",
                "owner@example.com",
                "--expires-in-days",
                "0",
            ][..],
            "--expires-in-days",
        ),
    ] {
        let output = run(&[args, &["--data-dir", data_dir]].concat());
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
