//! `trellis search` and `trellis reindex`.

use anyhow::{Context, Result, bail};

use crate::cli::{ReindexArgs, SearchQueryArgs};

const BYTES_PER_KIB: usize = 1024;

/// `trellis search`.
pub async fn search(args: SearchQueryArgs) -> Result<()> {
    let SearchQueryArgs {
        query,
        mode,
        as_user,
        limit,
        store,
        search,
    } = args;
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

/// `trellis reindex`.
pub async fn reindex(args: ReindexArgs) -> Result<()> {
    let ReindexArgs { store, search } = args;
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
        stats.vector_memory_bytes / BYTES_PER_KIB,
        stats.disk_bytes / BYTES_PER_KIB as u64
    );
    Ok(())
}

/// A bar for long work on the command line.
pub fn progress_bar(label: &'static str) -> indicatif::ProgressBar {
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
