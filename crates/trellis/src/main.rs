//! `trellis`: a self-hostable workspace with a Notion-compatible API.
//!
//! This binary is thin: it turns flags into configuration, opens the store, wires the
//! service to the HTTP edge, and serves.

mod cli;
mod client;
mod commands;
mod project;
mod scaffold;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{
    Cli, Command, GroupCommand, LogFormat, TokenCommand, UserCommand, WorkspaceCommand,
};
use crate::commands::{admin, integration, search, serve};

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

/// Parses the command line and runs the command it names.
async fn run() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Search(args) => search::search(args).await,
        Command::Reindex(args) => search::reindex(args).await,
        Command::Token { command } => match command {
            TokenCommand::Create(args) => admin::token_create(args).await,
            TokenCommand::List(args) => admin::token_list(args).await,
            TokenCommand::Revoke(args) => admin::token_revoke(args).await,
        },
        Command::User { command } => match command {
            UserCommand::Create(args) => admin::user_create(args).await,
        },
        Command::Group { command } => match command {
            GroupCommand::Create(args) => admin::group_create(args).await,
        },
        Command::Workspace { command } => match command {
            WorkspaceCommand::Set(args) => admin::workspace_set(args).await,
        },
        Command::Integration { command } => integration::dispatch(command).await,
    }
}

/// Log lines go to stderr, filtered by `TRELLIS_LOG`.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        // Colours only for a person at a terminal, never in a file or a pipe.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}
