//! `trellis serve`: the server, with the indexer, webhook and integration workers beside it.

use std::time::Duration;

use anyhow::{Context, Result};
use workspace::Workspace;

use crate::cli::ServeArgs;

/// `trellis serve`.
pub async fn serve(args: ServeArgs) -> Result<()> {
    let ServeArgs {
        addr,
        store,
        demo,
        rate_limit_per_second,
        rate_limit_burst,
        webhook_allow_private_networks,
        search,
        integrations,
    } = args;
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
