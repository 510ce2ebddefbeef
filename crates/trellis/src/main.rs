//! `trellis`: a self-hostable workspace with a Notion-compatible API.
//!
//! This binary is thin: it turns flags into configuration, opens the store, wires the
//! service to the HTTP edge, and serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use workspace::{Capabilities, Level, Role, Store, TokenSubject, Workspace};

#[derive(Parser)]
#[command(name = "trellis", version, about = "Trellis: a self-hostable workspace with a Notion-compatible API.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    async fn open(&self) -> Result<Workspace> {
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
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group (or find it by name) and add members to it. Prints the group id.
    Create {
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
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
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

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            addr,
            store,
            demo,
            rate_limit_per_second,
            rate_limit_burst,
            webhook_allow_private_networks,
        } => {
            let workspace = store.open().await?;
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
                    "or sign in:        curl -s http://{addr}/platform/v1/login -d '{{\"email\": \"ada@example.com\", \"password\": \"{}\"}}'",
                    workspace::demo::PASSWORD
                );
            }
            let config = http_api::Config {
                rate_limit_per_second,
                rate_limit_burst,
                base_url: format!("http://{addr}"),
            };
            let app = http_api::router(workspace.clone(), config);
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
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
            worker.abort();
            workspace.store().close().await;
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    user,
                    integration,
                    capabilities,
                    name,
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
            let token = workspace.create_token(subject, &name).await?;
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
            let workspace = store.open().await?;
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
