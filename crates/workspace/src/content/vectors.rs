//! The vector stage: passage rounds (provisional vectors) and vector rounds (whole chunks).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use document::Id;
use storage_sql::{ChangeCursor, StoredChunk};

use super::{
    ContentSearch, INDEXER_CONSUMER, PASSAGE_ROUNDS_MAX, PASSAGE_VECTORS_REUSED_MAX,
    PASSAGES_PER_ROUND_MAX, PendingPassage, Progress, VECTOR_ROUND_BULK_CHUNKS,
    VECTOR_ROUND_BULK_OBJECTS, VECTOR_ROUND_CHUNKS, embedding_error, lock, search_error,
};
use crate::{Error, Result, Workspace};

impl Workspace {
    /// Starts passage rounds for the queued passages of objects still waiting for vectors, up
    /// to [`PASSAGE_ROUNDS_MAX`] in flight; returns whether any is in flight now.
    pub(super) fn start_passage_round(&self) -> Result<bool> {
        let content = self.content()?;
        let mut progress = lock(&content.progress)?;
        while progress.passage_rounds.len() < PASSAGE_ROUNDS_MAX && !progress.passages.is_empty() {
            let take = progress.passages.len().min(PASSAGES_PER_ROUND_MAX);
            let taken: Vec<PendingPassage> = progress.passages.drain(..take).collect();
            let queued: Vec<PendingPassage> = taken
                .into_iter()
                .filter(|p| progress.dirty.contains_key(&p.object_id))
                .collect();
            if queued.is_empty() {
                continue;
            }
            let workspace = self.clone();
            progress.passage_rounds.push(tokio::spawn(async move {
                workspace.passage_round(queued).await
            }));
        }
        Ok(!progress.passage_rounds.is_empty())
    }

    /// Collects the passage rounds that have ended; the first error, if any.
    pub(super) async fn reap_passage_round(&self) -> Result<()> {
        let content = self.content()?;
        let ended: Vec<_> = {
            let mut progress = lock(&content.progress)?;
            let (ended, running) = progress
                .passage_rounds
                .drain(..)
                .partition(|round| round.is_finished());
            progress.passage_rounds = running;
            ended
        };
        let mut outcome = Ok(());
        for round in ended {
            let result = round
                .await
                .map_err(|error| Error::Internal(format!("a passage round failed: {error}")))
                .and_then(|result| result);
            outcome = outcome.and(result);
        }
        outcome
    }

    /// Starts a vector round when objects wait for vectors, none is in flight, and no passages
    /// wait (or rounds have been held back for them for the deferral, see
    /// [`VECTOR_ROUND_DEFERRED_MAX_MS`]); returns whether one is in flight now.
    pub(super) fn start_vector_round(&self) -> Result<bool> {
        let content = self.content()?;
        let mut progress = lock(&content.progress)?;
        if progress.dirty.is_empty() {
            progress.deferred_since = None;
        }
        if progress.round.is_some() || progress.dirty.is_empty() {
            return Ok(progress.round.is_some());
        }
        let passages_waiting = !progress.passages.is_empty() || !progress.passage_rounds.is_empty();
        let deferral = std::time::Duration::from_millis(
            content.vector_round_deferral_ms.load(Ordering::Relaxed),
        );
        let since = *progress
            .deferred_since
            .get_or_insert_with(std::time::Instant::now);
        if !passages_waiting || since.elapsed() >= deferral {
            progress.deferred_since = None;
            let chunks = if progress.dirty.len() > VECTOR_ROUND_BULK_OBJECTS {
                VECTOR_ROUND_BULK_CHUNKS
            } else {
                VECTOR_ROUND_CHUNKS
            };
            // While edits' passages are being embedded, people are typing: keep rounds small.
            let bulk_allowed = !passages_waiting;
            let workspace = self.clone();
            progress.round = Some(tokio::spawn(async move {
                workspace.vector_round(chunks, bulk_allowed).await
            }));
        }
        Ok(progress.round.is_some())
    }

    /// Collects the vector round if it has ended: how many chunks it embedded, or its error.
    pub(super) async fn reap_vector_round(&self) -> Result<usize> {
        let content = self.content()?;
        let round = {
            let mut progress = lock(&content.progress)?;
            match &progress.round {
                Some(round) if round.is_finished() => progress.round.take(),
                _ => None,
            }
        };
        match round {
            None => Ok(0),
            Some(round) => round
                .await
                .map_err(|error| Error::Internal(format!("the vector round failed: {error}")))?,
        }
    }

    /// Embeds changed passages of chunks waiting for their full vectors (ahead of the vector
    /// round's batches) and adds them as provisional vectors, where the passage is still part
    /// of the chunk's text and the chunk still has no full vector. Keeps the vectors it
    /// embedded for the vector rounds (see `Progress::embedded_passages`).
    async fn passage_round(&self, queued: Vec<PendingPassage>) -> Result<()> {
        let content = self.content()?;
        let vectors = content
            .embedder
            .embed_urgent(queued.iter().map(|p| p.text.clone()).collect())
            .await
            .map_err(embedding_error)?;
        let _guard = content.indexing.lock().await;
        let ids: Vec<i64> = queued.iter().map(|p| p.chunk_id as i64).collect();
        let mut tx = self.store.read().await?;
        let current: HashMap<i64, StoredChunk> = tx
            .chunks_by_id(&ids)
            .await?
            .into_iter()
            .map(|c| (c.chunk_id, c))
            .collect();
        tx.commit().await?;
        let mut added = 0;
        let mut embedded = HashMap::new();
        let mut landed = Vec::new();
        for (pending, vector) in queued.into_iter().zip(vectors) {
            if let Some(row) = current.get(&(pending.chunk_id as i64))
                && search::contains_passage(&indexed_text(row), &pending.passage)
                && content
                    .index
                    .add_provisional(
                        pending.chunk_id,
                        pending.seq,
                        pending.passage,
                        vector.clone(),
                    )
                    .map_err(search_error)?
            {
                added += 1;
                if let Some(ticket) = pending.ticket {
                    landed.push((ticket, pending.chunk_id));
                }
            }
            embedded.insert(pending.text, vector);
        }
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (ticket, chunk_id) in landed {
                freshness.passage_landed(ticket, chunk_id, now);
            }
        }
        content
            .counters
            .passages
            .fetch_add(added as u64, Ordering::Relaxed);
        let mut progress = lock(&content.progress)?;
        if progress.embedded_passages.len() + embedded.len() > PASSAGE_VECTORS_REUSED_MAX {
            progress.embedded_passages.clear();
        }
        progress.embedded_passages.extend(embedded);
        Ok(())
    }

    /// Stores the objects' chunks and, in the same transaction, the cursor that `dirty` and
    /// the keyword cursor make durable (when it moved past `saved_cursor`); then makes `dirty`
    /// (and `keyword_cursor`, when given) the indexer's progress.
    pub(super) async fn commit_chunks(
        &self,
        content: &ContentSearch,
        records: &[(Id, Vec<StoredChunk>)],
        dirty: HashMap<Id, ChangeCursor>,
        keyword_cursor: Option<ChangeCursor>,
        saved_cursor: ChangeCursor,
    ) -> Result<()> {
        let durable = Progress::durable_cursor(
            &dirty,
            match keyword_cursor {
                Some(cursor) => cursor,
                None => lock(&content.progress)?.keyword_cursor,
            },
        );
        let mut tx = self.store.write().await?;
        for (object_id, rows) in records {
            tx.replace_chunks(*object_id, rows).await?;
        }
        if durable > saved_cursor {
            tx.save_cursor(INDEXER_CONSUMER, durable, crate::clock::now_ms())
                .await?;
        }
        tx.commit().await?;
        let mut progress = lock(&content.progress)?;
        progress.dirty = dirty;
        if let Some(cursor) = keyword_cursor {
            progress.keyword_cursor = cursor;
        }
        progress.saved_cursor = progress.saved_cursor.max(durable);
        Ok(())
    }

    /// One vector round: embeds the chunks the dirty objects have no vector for (oldest objects
    /// first, up to `chunks_max` chunks), then, holding `indexing`, fills them into
    /// the chunks as they are *now* (a chunk edited again meanwhile keeps waiting, for the next
    /// round), index files first, then the store with the durable cursor. Returns how many
    /// chunks it embedded.
    pub(super) async fn vector_round(
        &self,
        chunks_max: usize,
        bulk_allowed: bool,
    ) -> Result<usize> {
        let content = self.content()?;
        let (passages, mut objects, seq_now, tickets_read) = {
            let mut progress = lock(&content.progress)?;
            let tickets_read = lock(&content.freshness)?.next_ticket();
            let objects: Vec<(ChangeCursor, Id)> = progress
                .dirty
                .iter()
                .map(|(object_id, since)| (*since, *object_id))
                .collect();
            (
                std::mem::take(&mut progress.embedded_passages),
                objects,
                progress.next_seq,
                tickets_read,
            )
        };
        objects.sort_unstable();
        // Texts to embed by text hash: a hash names the embedded text exactly.
        let mut texts: HashMap<String, String> = HashMap::new();
        // What this round embeds of each chunk: its text hash, heading path and text.
        let mut versions: HashMap<i64, (String, Vec<String>, String)> = HashMap::new();
        let mut taken = Vec::new();
        let mut tx = self.store.read().await?;
        let mut chunks_max = chunks_max;
        for (_, object_id) in objects {
            if texts.len() >= chunks_max {
                break;
            }
            let chunks = tx.chunks_of(object_id).await?;
            // An object missing more chunks than a small round holds, while no edit's passage
            // waits, is new or rewritten, not a page someone is typing in: embed in bulk
            // rounds, which keep every lane busy. (Without the passage condition, hot pages
            // that crossed a window got bulk rounds too, and the bench's edits waited for
            // them: meaning p99 2.1-2.8 s against 0.4-0.8 s.)
            if bulk_allowed
                && chunks.iter().filter(|c| c.vector.is_empty()).count() > VECTOR_ROUND_CHUNKS
            {
                chunks_max = chunks_max.max(VECTOR_ROUND_BULK_CHUNKS);
            }
            for chunk in chunks {
                if chunk.vector.is_empty() && texts.len() < chunks_max {
                    let text = indexed_text(&chunk);
                    texts.entry(chunk.text_hash.clone()).or_insert(text);
                    versions.insert(
                        chunk.chunk_id,
                        (chunk.text_hash, chunk.heading_path, chunk.text),
                    );
                }
            }
            taken.push(object_id);
        }
        tx.commit().await?;
        // A text the passage round just embedded (a whole short chunk) is not embedded again.
        let mut embedded: HashMap<String, Vec<f32>> = HashMap::new();
        texts.retain(|hash, text| match passages.get(text.as_str()) {
            Some(vector) => {
                embedded.insert(hash.clone(), vector.clone());
                false
            }
            None => true,
        });
        let (hashes, texts): (Vec<String>, Vec<String>) = texts.into_iter().unzip();
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(embedding::TEXTS_PER_BATCH_MAX) {
            vectors.extend(
                content
                    .embedder
                    .embed(batch.to_vec())
                    .await
                    .map_err(embedding_error)?,
            );
        }
        embedded.extend(hashes.into_iter().zip(vectors));

        let _guard = content.indexing.lock().await;
        // Entries opened from here on are of edits made after the texts read below.
        let tickets_filled = lock(&content.freshness)?.next_ticket();
        let mut tx = self.store.read().await?;
        let mut updated = Vec::new();
        let mut inserts = Vec::new();
        let mut done = Vec::new();
        // Vectors of a version the chunk had when the round read it, for chunks edited since.
        let mut superseded = Vec::new();
        for object_id in taken {
            let mut rows = tx.chunks_of(object_id).await?;
            let mut filled = false;
            for row in &mut rows {
                if !row.vector.is_empty() {
                    continue;
                }
                if let Some(vector) = embedded.get(&row.text_hash) {
                    row.vector = vector.clone();
                    inserts.push((row.chunk_id as u64, vector.clone()));
                    filled = true;
                } else if let Some((hash, heading_path, text)) = versions.get(&row.chunk_id)
                    && let Some(vector) = embedded.get(hash)
                {
                    let still_part = *heading_path == row.heading_path
                        && search::contains_passage(&indexed_text(row), text);
                    superseded.push((row.chunk_id as u64, still_part.then_some((text, vector))));
                }
            }
            if rows.iter().all(|row| !row.vector.is_empty()) {
                done.push(object_id);
            }
            if filled {
                updated.push((object_id, rows));
            }
        }
        tx.commit().await?;
        content
            .index
            .insert_vectors(&inserts)
            .map_err(search_error)?;
        let mut landed: Vec<(u64, u64)> = inserts
            .iter()
            .map(|(chunk_id, _)| (*chunk_id, tickets_filled))
            .collect();
        for (chunk_id, kept) in superseded {
            let counter = match kept {
                Some((text, vector)) => {
                    landed.push((chunk_id, tickets_read));
                    content
                        .index
                        .add_provisional(
                            chunk_id,
                            // The chunk's passage vectors stay beside it: this vector's
                            // text holds theirs, but a query for one edit matches that edit's
                            // passage better than ~160 words of which it is one sentence.
                            seq_now.saturating_sub(1),
                            Arc::from(text.as_str()),
                            vector.clone(),
                        )
                        .map_err(search_error)?;
                    &content.counters.kept_provisional
                }
                None => &content.counters.discarded,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (chunk_id, tickets_below) in landed {
                freshness.vector_landed(chunk_id, tickets_below, now);
            }
            for object_id in &done {
                freshness.object_settled(*object_id, tickets_filled, now);
            }
        }
        let (dirty, saved_cursor) = {
            let progress = lock(&content.progress)?;
            let mut dirty = progress.dirty.clone();
            for object_id in &done {
                dirty.remove(object_id);
            }
            (dirty, progress.saved_cursor)
        };
        self.commit_chunks(content, &updated, dirty, None, saved_cursor)
            .await?;
        Ok(inserts.len())
    }
}

/// What is embedded for a changed passage of a chunk: its heading path, then the passage.
pub(super) fn passage_text(chunk: &StoredChunk, passage: &str) -> String {
    search::Chunk {
        key: chunk.key.clone(),
        ordinal: chunk.ordinal as usize,
        heading_path: chunk.heading_path.clone(),
        text: passage.to_string(),
    }
    .indexed_text()
}

pub(super) fn indexed_text(chunk: &StoredChunk) -> String {
    passage_text(chunk, &chunk.text)
}
