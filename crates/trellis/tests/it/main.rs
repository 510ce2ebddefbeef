//! End-to-end tests of the `trellis` binary: real processes, real files, loopback HTTP.

mod cli;
mod crash;
mod integrations;
mod scaffold;
mod search;
mod tokens;
mod webhooks;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BIN: &str = env!("CARGO_BIN_EXE_trellis");
/// How long a test server may take to answer `/health`. `serve --demo --embedder local`
/// embeds the demo before it listens: seconds on an idle machine, a minute or more on two
/// busy cores.
const SERVER_STARTUP_MS_MAX: u64 = 300_000;
const HEALTH_POLL_MS: u64 = 50;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trellis-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process on loopback, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub async fn start(data_dir: &Path, demo: bool) -> Server {
        Server::start_with(data_dir, demo, &[]).await
    }

    pub async fn start_with(data_dir: &Path, demo: bool, extra: &[&str]) -> Server {
        let port = free_port();
        let mut command = Command::new(BIN);
        command
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args([
                "--rate-limit-per-second",
                "100000",
                "--rate-limit-burst",
                "100000",
            ])
            .stdout(Stdio::null())
            // TRELLIS_TEST_SERVER_LOG=1 shows the servers' logs, for debugging a test.
            .stderr(if std::env::var_os("TRELLIS_TEST_SERVER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            // Tests that are not about search index with the model-free embedder; search
            // tests pass `--embedder local`, which overrides this.
            .env("TRELLIS_EMBEDDER", "hashing");
        if demo {
            command.arg("--demo");
        }
        command.args(extra);
        let child = command.spawn().unwrap();
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_millis(SERVER_STARTUP_MS_MAX);
        loop {
            if let Ok((200, _)) = server.request("GET", "/health", None, None).await {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited before it became healthy: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy within {SERVER_STARTUP_MS_MAX} ms"
            );
            tokio::time::sleep(Duration::from_millis(HEALTH_POLL_MS)).await;
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        http(self.port, method, path, token, body).await
    }

    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on a fresh loopback connection. Returns status and JSON body.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Notion-Version: 2025-09-03\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // Responses are small here; axum sends them with Content-Length, not chunked.
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Runs the CLI and returns the last line of stdout.
pub fn cli(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "trellis {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Creates an owner in a fresh workspace and returns a personal token for them.
pub fn owner_token(data_dir: &str) -> String {
    cli(&[
        "user",
        "create",
        "--email",
        "owner@example.com",
        "--name",
        "Owner",
        "--role",
        "owner",
        "--data-dir",
        data_dir,
    ]);
    cli(&[
        "token",
        "create",
        "--user",
        "owner@example.com",
        "--data-dir",
        data_dir,
    ])
}
