//! The keyword stage: the change log read, objects re-chunked, chunks into BM25 and the store.

use std::collections::HashMap;
use std::sync::Arc;

use document::Id;
use search::{IndexedChunk, ObjectText, ObjectUpdate};
use storage_sql::{ChangeCursor, Node, StoredChunk};

use super::vectors::{indexed_text, passage_text};
use super::{
    COMMENTS_PER_BATCH, INDEXER_CONSUMER, INDEXER_EVENTS_PER_PASS, IndexPass, OBJECT_IDS_PER_BATCH,
    PASSAGES_QUEUED_MAX, PendingPassage, Progress, REBUILD_OBJECTS_PER_BATCH,
    REINDEX_OBJECTS_PER_BATCH, VECTOR_WAIT_POLL_MS, chain_nodes, lock, reader_actor, search_error,
};
use crate::{Result, Workspace};

impl Workspace {
    /// After a clean open: learn chunk owners from the store, restore any vectors the files lack
    /// (files restored from an older copy, or a crash between a vector round's file write and its
    /// store commit), and put objects whose chunks have no vector in the store yet back in the
    /// dirty set.
    pub(super) async fn load_owners_and_repair(&self) -> Result<()> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        let mut tx = self.store.read().await?;
        let owners = tx.chunk_owners().await?;
        content
            .index
            .set_owners(
                owners
                    .into_iter()
                    .map(|(chunk, object)| (chunk as u64, object)),
            )
            .map_err(search_error)?;
        let missing: Vec<i64> = content
            .index
            .missing_vectors()
            .map_err(search_error)?
            .into_iter()
            .map(|id| id as i64)
            .collect();
        if !missing.is_empty() {
            let chunks = tx.chunk_vectors(&missing).await?;
            let (waiting, stored): (Vec<StoredChunk>, Vec<StoredChunk>) =
                chunks.into_iter().partition(|c| c.vector.is_empty());
            if !stored.is_empty() {
                tracing::warn!(
                    count = stored.len(),
                    "restoring vectors the index files lack"
                );
                content
                    .index
                    .insert_vectors(
                        &stored
                            .into_iter()
                            .map(|c| (c.chunk_id as u64, c.vector))
                            .collect::<Vec<_>>(),
                    )
                    .map_err(search_error)?;
            }
            let mut progress = lock(&content.progress)?;
            let since = progress.saved_cursor;
            for chunk in waiting {
                progress.dirty.entry(chunk.object_id).or_insert(since);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rebuilds the index files from the chunks and vectors in the store (no re-embedding;
    /// chunks the store has no vector for go back in the dirty set).
    pub(super) async fn rebuild_index_files(
        &self,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<()> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        content.index.clear().map_err(search_error)?;
        let mut tx = self.store.read().await?;
        let total = tx.chunk_owners().await?.len() as u64;
        let mut done = 0u64;
        let mut after = None;
        let mut waiting = Vec::new();
        loop {
            let objects = tx.chunked_objects(after, REBUILD_OBJECTS_PER_BATCH).await?;
            let Some(last) = objects.last() else {
                break;
            };
            after = Some(*last);
            let mut updates = Vec::with_capacity(objects.len());
            for object_id in objects {
                let chunks = tx.chunks_of(object_id).await?;
                done += chunks.len() as u64;
                if chunks.iter().any(|c| c.vector.is_empty()) {
                    waiting.push(object_id);
                }
                updates.push(ObjectUpdate {
                    object_id,
                    chunks: chunks
                        .into_iter()
                        .map(|c| IndexedChunk {
                            chunk_id: c.chunk_id as u64,
                            text: indexed_text(&c),
                            vector: (!c.vector.is_empty()).then_some(c.vector),
                        })
                        .collect(),
                });
            }
            content.index.apply(&updates).map_err(search_error)?;
            progress(done, total);
        }
        tx.commit().await?;
        content.index.snapshot().map_err(search_error)?;
        let mut state = lock(&content.progress)?;
        let since = state.saved_cursor;
        for object_id in waiting {
            state.dirty.entry(object_id).or_insert(since);
        }
        Ok(())
    }

    /// Re-chunks and re-embeds every page and data source (vectors whose text and model are
    /// unchanged are reused), then indexes what changed since. `trellis reindex` runs this.
    pub async fn reindex(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<IndexPass> {
        let content = self.content()?;
        self.stop_content_indexing().await?;
        let mut tx = self.store.read().await?;
        let start_cursor = tx.load_cursor(INDEXER_CONSUMER).await?;
        let mut total = 0u64;
        let mut after = None;
        loop {
            let batch = tx.indexable_objects(after, OBJECT_IDS_PER_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(*last);
            total += batch.len() as u64;
        }
        tx.commit().await?;
        {
            let _guard = content.indexing.lock().await;
            content.index.clear().map_err(search_error)?;
            // Events after the start cursor replay once every object is in.
            *lock(&content.progress)? = Progress::new(start_cursor);
        }
        let mut pass = IndexPass::default();
        let mut after = None;
        let mut done = 0u64;
        progress(0, total);
        loop {
            let mut tx = self.store.read().await?;
            let batch = tx
                .indexable_objects(after, REINDEX_OBJECTS_PER_BATCH)
                .await?;
            tx.commit().await?;
            let Some(last) = batch.last() else { break };
            after = Some(*last);
            {
                let _guard = content.indexing.lock().await;
                self.index_text(&batch, start_cursor, None, None).await?;
            }
            while !lock(&content.progress)?.dirty.is_empty() {
                pass.chunks_embedded += self
                    .vector_round(embedding::TEXTS_PER_BATCH_MAX, true)
                    .await?;
            }
            pass.objects += batch.len();
            done += batch.len() as u64;
            progress(done, total);
        }
        // Objects that no longer exist lose their chunks.
        {
            let _guard = content.indexing.lock().await;
            let mut tx = self.store.write().await?;
            let mut stale = Vec::new();
            let mut after = None;
            loop {
                let batch = tx.chunked_objects(after, OBJECT_IDS_PER_BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = Some(*last);
                for id in batch {
                    if tx.get_node(id).await?.is_none() {
                        stale.push(id);
                    }
                }
            }
            for id in &stale {
                tx.replace_chunks(*id, &[]).await?;
            }
            // Everything up to the cursor read at the start is now in; later events replay.
            tx.save_cursor(INDEXER_CONSUMER, start_cursor, crate::clock::now_ms())
                .await?;
            tx.commit().await?;
        }
        content.index.snapshot().map_err(search_error)?;
        let caught_up = self.index_changes().await?;
        pass.events += caught_up.events;
        pass.objects += caught_up.objects;
        pass.chunks_embedded += caught_up.chunks_embedded;
        Ok(pass)
    }

    /// One indexer pass: the keyword stage over the change-log events after its cursor, which
    /// also starts a vector round when objects wait for vectors. When there were no new events
    /// it waits, looking for new events every [`VECTOR_WAIT_POLL_MS`], until every vector is in:
    /// so a caller that repeats passes until one reads no events ends with everything searchable
    /// by keyword and by meaning, and the serve loop still takes in new edits while the model
    /// works. Returns what it did.
    pub async fn index_changes(&self) -> Result<IndexPass> {
        let mut pass = self.keyword_stage().await?;
        loop {
            self.reap_passage_round().await?;
            let passages_running = self.start_passage_round()?;
            pass.chunks_embedded += self.reap_vector_round().await?;
            let running = self.start_vector_round()?;
            if pass.events > 0 || !(running || passages_running) {
                return Ok(pass);
            }
            tokio::time::sleep(std::time::Duration::from_millis(VECTOR_WAIT_POLL_MS)).await;
            let more = self.keyword_stage().await?;
            pass.events += more.events;
            pass.objects += more.objects;
        }
    }

    /// Stops the vector round in flight, if any, and waits until it is gone: what it embedded
    /// and did not commit is embedded again later. For shutdown and tests; the next indexer pass
    /// starts a new round.
    pub async fn stop_content_indexing(&self) -> Result<()> {
        let content = self.content()?;
        let rounds = {
            let mut progress = lock(&content.progress)?;
            let passages: Vec<_> = progress.passage_rounds.drain(..).collect();
            (progress.round.take(), passages)
        };
        for round in &rounds.1 {
            round.abort();
        }
        if let Some(round) = rounds.0 {
            round.abort();
            // Cancelled, or finished before the abort: either way nothing is left running.
            let _ = round.await;
        }
        for round in rounds.1 {
            let _ = round.await;
        }
        Ok(())
    }

    /// The keyword stage over the events after its cursor: refreshes the access mirror for
    /// structural changes and re-chunks every touched object (see [`Workspace::index_text`]).
    async fn keyword_stage(&self) -> Result<IndexPass> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        let cursor = lock(&content.progress)?.keyword_cursor;
        let mut tx = self.store.read().await?;
        let changes = tx.read_changes(cursor, INDEXER_EVENTS_PER_PASS).await?;
        let Some(last) = changes.last() else {
            tx.commit().await?;
            return Ok(IndexPass::default());
        };
        let new_cursor = last.cursor;
        let mut objects: Vec<Id> = Vec::new();
        // The commit times of the events that touched each object, for the freshness measure.
        let mut edit_times: HashMap<Id, Vec<i64>> = HashMap::new();
        let mut structural: Vec<Id> = Vec::new();
        for record in &changes {
            let change = &record.change;
            let target = match change.object_kind.as_str() {
                "page" | "data_source" => Some(change.object_id),
                // Block and comment events name their page as the parent.
                "block" | "comment" => change.parent_id,
                _ => None,
            };
            if let Some(target) = target {
                let times = edit_times.entry(target).or_default();
                if times.is_empty() {
                    objects.push(target);
                }
                times.push(record.time);
            }
            // Anything but a content edit may change who can read what (a new node, a move,
            // trash, sharing): refresh that node's chain in the mirror.
            let is_structural = matches!(
                change.object_kind.as_str(),
                "page" | "database" | "data_source"
            ) && !matches!(
                change.kind.as_str(),
                "page.properties_updated" | "page.content_updated" | "data_source.content_updated"
            );
            if is_structural {
                structural.push(change.object_id);
            }
        }
        let mut chains = Vec::new();
        for id in &structural {
            chains.push((*id, tx.chain(*id).await?));
        }
        tx.commit().await?;
        {
            let mut mirror = lock(&content.mirror)?;
            for (id, chain) in chains {
                // A chain past the depth limit does not reach the top of its tree: mirrored
                // as it is, its last node would pass for a top-level one.
                if chain.nodes.is_empty() || chain.too_deep() {
                    mirror.remove(id);
                } else {
                    mirror.upsert(chain_nodes(chain));
                }
            }
        }
        self.index_text(&objects, cursor, Some(new_cursor), Some(&edit_times))
            .await?;
        Ok(IndexPass {
            events: changes.len(),
            objects: objects.len(),
            chunks_embedded: 0,
        })
    }

    /// Chunks the given objects and indexes their text: a chunk whose text (and model) is
    /// unchanged keeps its stored vector, any other is written without one and its object joins
    /// the dirty set (`since`: the cursor before the events that touched it). Index files first
    /// (durable), then the chunks to the store, with the durable cursor when it moved
    /// (`keyword_cursor`: where the keyword stage now is, when these are change-log events).
    /// With `edits` (change-log events, not a bulk reindex: each object's events' commit times),
    /// a changed chunk keeps its old vector as a provisional one while its old text is still
    /// part of it, its changed passage is queued for a provisional vector of its own, and the
    /// edits enter the freshness measure. The caller holds `indexing`.
    async fn index_text(
        &self,
        ids: &[Id],
        since: ChangeCursor,
        keyword_cursor: Option<ChangeCursor>,
        edits: Option<&HashMap<Id, Vec<i64>>>,
    ) -> Result<()> {
        let provisional = edits.is_some();
        let content = self.content()?;
        let model_id = content.embedder.model_id().to_string();
        // Read the objects' text and their stored chunks.
        let reader = reader_actor();
        let mut r = self.begin(&reader, false).await?;
        let result = async {
            let mut planned = Vec::new();
            for id in ids {
                let text = r.object_text(*id).await?;
                let stored = r.tx.chunks_of(*id).await?;
                planned.push((*id, text, stored));
            }
            Ok(planned)
        }
        .await;
        let planned = r.finish(result).await?;

        // A stored vector is reused when its text hash and model match.
        let mut records: Vec<(Id, Vec<StoredChunk>)> = Vec::with_capacity(planned.len());
        // Old vectors to keep as provisional ones, and changed passages to embed.
        let mut kept: Vec<(u64, Arc<str>, Vec<f32>)> = Vec::new();
        let mut passages: Vec<(Id, u64, Arc<str>, String)> = Vec::new();
        // Per object, the chunks whose text this pass changed and that have no vector: what its
        // edits wait for to be found by meaning.
        let mut changed: HashMap<Id, Vec<u64>> = HashMap::new();
        for (object_id, text, stored) in planned {
            let previous: HashMap<i64, &StoredChunk> =
                stored.iter().map(|c| (c.chunk_id, c)).collect();
            let reusable: HashMap<&str, &Vec<f32>> = stored
                .iter()
                .filter(|c| c.model_id == model_id && !c.vector.is_empty())
                .map(|c| (c.text_hash.as_str(), &c.vector))
                .collect();
            let chunks = match &text {
                Some(text) => search::chunk_object(text),
                None => Vec::new(),
            };
            let rows = chunks
                .into_iter()
                .map(|chunk| {
                    let hash = chunk.text_hash();
                    let vector = reusable
                        .get(hash.as_str())
                        .map(|v| (*v).clone())
                        .unwrap_or_default();
                    StoredChunk {
                        chunk_id: chunk.id(object_id),
                        object_id,
                        key: chunk.key,
                        ordinal: chunk.ordinal as i64,
                        heading_path: chunk.heading_path,
                        text: chunk.text,
                        text_hash: hash,
                        model_id: model_id.clone(),
                        vector,
                    }
                })
                .collect::<Vec<StoredChunk>>();
            if provisional {
                for (i, row) in rows.iter().enumerate() {
                    if !row.vector.is_empty() {
                        continue;
                    }
                    let old = previous.get(&row.chunk_id).copied();
                    if let Some(old) = old
                        && !old.vector.is_empty()
                        && old.model_id == model_id
                        && old.heading_path == row.heading_path
                        && search::contains_passage(&indexed_text(row), &old.text)
                    {
                        kept.push((
                            row.chunk_id as u64,
                            Arc::from(old.text.as_str()),
                            old.vector.clone(),
                        ));
                    }
                    // A new window of a growing section starts with words carried over
                    // from the window before it: those are not what the edit added.
                    let carried = match (old, i.checked_sub(1).map(|p| &rows[p])) {
                        (None, Some(before)) if before.heading_path == row.heading_path => {
                            search::carried_over(&before.text, &row.text)
                        }
                        _ => None,
                    };
                    let old_text = old.map(|o| o.text.as_str()).or(carried.as_deref());
                    if let Some(passage) = search::changed_passage(old_text, &row.text) {
                        let text = passage_text(row, &passage);
                        passages.push((object_id, row.chunk_id as u64, Arc::from(passage), text));
                    }
                    if old.is_none_or(|old| old.text_hash != row.text_hash) {
                        changed
                            .entry(object_id)
                            .or_default()
                            .push(row.chunk_id as u64);
                    }
                }
            }
            records.push((object_id, rows));
        }

        let updates: Vec<ObjectUpdate> = records
            .iter()
            .map(|(object_id, rows)| ObjectUpdate {
                object_id: *object_id,
                chunks: rows
                    .iter()
                    .map(|c| IndexedChunk {
                        chunk_id: c.chunk_id as u64,
                        vector: (!c.vector.is_empty()).then(|| c.vector.clone()),
                        text: indexed_text(c),
                    })
                    .collect(),
            })
            .collect();
        content.index.apply(&updates).map_err(search_error)?;

        let (dirty, keyword_cursor, saved_cursor) = {
            let progress = lock(&content.progress)?;
            let mut dirty = progress.dirty.clone();
            for (object_id, rows) in &records {
                if rows.iter().any(|c| c.vector.is_empty()) {
                    dirty.entry(*object_id).or_insert(since);
                } else {
                    dirty.remove(object_id);
                }
            }
            let keyword_cursor = keyword_cursor.unwrap_or(progress.keyword_cursor);
            (dirty, keyword_cursor, progress.saved_cursor)
        };
        self.commit_chunks(content, &records, dirty, Some(keyword_cursor), saved_cursor)
            .await?;
        // The chunks are in the store: a vector round that reads them from here on sees these
        // texts, so sequence numbers (and freshness tickets) handed out now are covered by what
        // it embeds.
        let mut progress = lock(&content.progress)?;
        let mut tickets: HashMap<Id, u64> = HashMap::new();
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (object_id, rows) in &records {
                if rows.is_empty() {
                    freshness.object_gone(*object_id);
                    continue;
                }
                if rows.iter().all(|row| !row.vector.is_empty()) {
                    let below = freshness.next_ticket();
                    freshness.object_settled(*object_id, below, now);
                }
                let waiting = changed.get(object_id).map_or(&[][..], Vec::as_slice);
                let times = edits.and_then(|edits| edits.get(object_id));
                if let Some(ticket) = freshness.applied(
                    *object_id,
                    times.map_or(&[][..], Vec::as_slice),
                    waiting,
                    now,
                ) {
                    tickets.insert(*object_id, ticket);
                }
            }
        }
        for (chunk_id, passage, vector) in kept {
            let seq = progress.next_seq;
            progress.next_seq += 1;
            content
                .index
                .add_provisional(chunk_id, seq, passage, vector)
                .map_err(search_error)?;
        }
        for (object_id, chunk_id, passage, text) in passages {
            let seq = progress.next_seq;
            progress.next_seq += 1;
            progress.passages.push(PendingPassage {
                object_id,
                chunk_id,
                seq,
                ticket: tickets.get(&object_id).copied(),
                passage,
                text,
            });
        }
        let excess = progress.passages.len().saturating_sub(PASSAGES_QUEUED_MAX);
        progress.passages.drain(..excess);
        Ok(())
    }
}

impl crate::request::Request<'_> {
    /// What the indexer reads of a page or data source; `None` when it does not exist or is
    /// not indexable.
    async fn object_text(&mut self, id: Id) -> Result<Option<ObjectText>> {
        let Some(node) = self.tx.get_node(id).await? else {
            return Ok(None);
        };
        match node.node {
            Node::Page(page) => {
                let data_source = self.data_source_of(&page).await?;
                let title = page.title();
                let view = self.view_page_in(page, data_source).await?;
                let mut properties = Vec::new();
                if let Some(data_source) = &view.data_source {
                    for schema in &data_source.properties {
                        if schema.id == document::page::TITLE_PROPERTY_ID {
                            continue;
                        }
                        if let Some(value) = view.page.properties.get(&schema.id) {
                            let text = value.plain_text(Some(schema));
                            if !text.trim().is_empty() {
                                properties.push((schema.name.clone(), text));
                            }
                        }
                    }
                }
                // The body as plain text, not Markdown source: chunks are what search shows
                // (highlights, passages), and their text should read as the page does.
                let mut budget = crate::blocks::MARKDOWN_BLOCKS_MAX;
                let tree = self.block_tree(view.page.id, 0, &mut budget).await?;
                let markdown = document::markdown::to_plain_text(&tree);
                let mut comments = Vec::new();
                let mut after = None;
                loop {
                    let batch = self.tx.comments(id, after, COMMENTS_PER_BATCH).await?;
                    let Some(last) = batch.last() else { break };
                    after = Some((last.created_time, last.id));
                    for mut comment in batch {
                        self.trim_rich_text(&mut comment.rich_text).await?;
                        comments.push(document::rich_text::plain_text(&comment.rich_text));
                    }
                }
                Ok(Some(ObjectText {
                    object_id: id,
                    title,
                    properties,
                    markdown,
                    comments,
                }))
            }
            Node::DataSource(data_source) => {
                let title = document::data_source::title_plain(&data_source.title);
                let description = document::rich_text::plain_text(&data_source.description);
                let properties = vec![(
                    "Properties".to_string(),
                    data_source
                        .properties
                        .iter()
                        .map(|p| p.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                )];
                Ok(Some(ObjectText {
                    object_id: id,
                    title,
                    properties,
                    markdown: description,
                    comments: Vec::new(),
                }))
            }
            _ => Ok(None),
        }
    }
}
