//! `trellis integration install | run | logs | share | dev`: drive a running server's platform
//! API.
//! The server and token come from flags or `TRELLIS_URL` and `TRELLIS_TOKEN`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};

#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "TRELLIS_URL", default_value = "http://127.0.0.1:7777")]
    pub server: String,
    /// An owner's personal API token (`trellis token create --user EMAIL`).
    #[arg(long, env = "TRELLIS_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// A small client of the platform API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// How long a CLI request may take; registering a JS component compiles it.
const REQUEST_TIMEOUT_MS: u64 = 300_000;

impl Client {
    pub fn new(args: &ServerArgs) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
                .build()?,
            base: args.server.trim_end_matches('/').to_string(),
            token: args.token.clone(),
        })
    }

    /// Sends a request and returns the JSON body of a 2xx answer; anything else is an error
    /// carrying the server's code and message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Notion-Version", "2025-09-03");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            bail!(
                "{} {}: {}",
                status.as_u16(),
                value["code"].as_str().unwrap_or(""),
                value["message"].as_str().unwrap_or(&value.to_string())
            );
        }
        Ok(value)
    }
}

/// Registers the project's component and installs it (or moves the installation to this
/// version). Returns the installation.
pub async fn install(client: &Client, project: &Path, component: &Path) -> Result<Value> {
    let manifest_path = project.join("trellis.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let bytes = std::fs::read(component)
        .with_context(|| format!("reading the component {}", component.display()))?;
    register_and_install(client, &manifest, &bytes).await
}

/// Registers a package (manifest text and component bytes) and installs it, or moves the
/// installation of the same integration name to it. Returns the installation.
pub async fn register_and_install(
    client: &Client,
    manifest: &str,
    component: &[u8],
) -> Result<Value> {
    let package = client
        .call(
            reqwest::Method::POST,
            "/platform/v1/integrations",
            Some(json!({
                "manifest": manifest,
                "component": base64::engine::general_purpose::STANDARD.encode(component),
            })),
        )
        .await
        .context("registering the integration")?;
    let package_id = package["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the server answered without a package id"))?;
    client
        .call(
            reqwest::Method::POST,
            "/platform/v1/installations",
            Some(json!({"package_id": package_id})),
        )
        .await
        .context("installing the integration")
}

/// Finds an installation by id or by integration name.
pub async fn installation(client: &Client, name_or_id: &str) -> Result<Value> {
    let list = client
        .call(reqwest::Method::GET, "/platform/v1/installations", None)
        .await?;
    list["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|installation| installation["id"] == name_or_id || installation["name"] == name_or_id)
        .cloned()
        .ok_or_else(|| anyhow!("no installation named or with id `{name_or_id}`"))
}

/// Runs an installation with JSON input and waits for it to end.
pub async fn run(client: &Client, name_or_id: &str, input: &str) -> Result<Value> {
    let installation = installation(client, name_or_id).await?;
    let input: Value = serde_json::from_str(input).context("--input is not JSON")?;
    let id = installation["id"].as_str().unwrap_or_default();
    run_installation(client, id, &input).await
}

/// Runs the installation with this id and waits for the run to end (the server waits up to a
/// minute; a run still going then comes back `queued` or `running`).
pub async fn run_installation(
    client: &Client,
    installation_id: &str,
    input: &Value,
) -> Result<Value> {
    client
        .call(
            reqwest::Method::POST,
            &format!("/platform/v1/installations/{installation_id}/runs"),
            Some(json!({"input": input, "wait": true})),
        )
        .await
}

/// Shares a page with an installation's integration.
pub async fn share(client: &Client, name_or_id: &str, page_id: &str, level: &str) -> Result<Value> {
    let installation = installation(client, name_or_id).await?;
    client
        .call(
            reqwest::Method::POST,
            &format!("/platform/v1/pages/{page_id}/sharing"),
            Some(json!({"integration_id": installation["integration_id"], "level": level})),
        )
        .await
}

/// A run's status, output and logs as text for the terminal.
pub fn describe_run(run: &Value) -> String {
    let mut text = format!(
        "run {} {} ({} trigger)\n",
        run["id"].as_str().unwrap_or("?"),
        run["status"].as_str().unwrap_or("?"),
        run["trigger"].as_str().unwrap_or("?"),
    );
    let record = &run["record"];
    if let Some(message) = record["message"].as_str() {
        text.push_str(&format!("message: {message}\n"));
    }
    if let Some(duration) = record["duration_us"].as_u64() {
        text.push_str(&format!(
            "duration {:.2} ms, fuel {}, memory peak {} KiB, host calls {}, writes applied {}\n",
            duration as f64 / 1000.0,
            record["fuel_used"],
            record["memory_peak_bytes"].as_u64().unwrap_or(0) / 1024,
            record["host_calls"],
            record["writes_applied"],
        ));
    }
    for entry in record["logs"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "[{:>6} ms] {:<5} {} {}\n",
            // A JSON number ignores the width; the integer pads.
            entry["at_ms"].as_u64().unwrap_or(0),
            entry["level"].as_str().unwrap_or(""),
            entry["message"].as_str().unwrap_or(""),
            if entry["fields"]
                .as_object()
                .is_some_and(|fields| !fields.is_empty())
            {
                entry["fields"].to_string()
            } else {
                String::new()
            }
        ));
    }
    for request in record["outbound_requests"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "outbound {} {} {}\n",
            request["method"].as_str().unwrap_or(""),
            request["url"].as_str().unwrap_or(""),
            if request["allowed"] == true {
                format!("-> {}", request["status"])
            } else {
                format!("refused: {}", request["refusal"].as_str().unwrap_or(""))
            }
        ));
    }
    if !run["output"].is_null() {
        text.push_str(&format!("output: {}\n", run["output"]));
    }
    text
}

/// The project directory given, or the current one.
pub fn project_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
}
