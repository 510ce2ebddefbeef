//! Content queries: keyword, semantic and hybrid, trimmed to what the caller may read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use access::{Actor, Operation};
use document::Id;
use search::{ChunkScore, Highlight};
use storage_sql::{Node, StoredChunk};

use super::{
    CANDIDATE_CHUNKS_MAX, CANDIDATE_CHUNKS_MIN, CANDIDATES_PER_CHUNK_HIT, CANDIDATES_PER_RESULT,
    CHUNK_CANDIDATES_MIN, CHUNK_RESULTS_MAX, CONTENT_RESULTS_MAX, ChunkHit, ContentHit,
    ContentQuery, HighlightView, PassageView, SearchMode, embedding_error, lock, search_error,
};
use crate::request::{Page, invalid_cursor, page_size};
use crate::search::{SearchFilter, SearchResult};
use crate::{Error, Result, Workspace};

impl Workspace {
    /// Full-content search, ranked best first, one result per page or data source.
    pub async fn search_content(
        &self,
        actor: &Actor,
        query: ContentQuery,
    ) -> Result<Page<ContentHit>> {
        let limit = page_size(query.page_size)? as usize;
        let offset = match &query.start_cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix('r')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n < CONTENT_RESULTS_MAX)
                .ok_or_else(invalid_cursor)?,
        };
        let wanted = (offset + limit + 1).min(CONTENT_RESULTS_MAX + 1);
        let candidates =
            (wanted * CANDIDATES_PER_RESULT).clamp(CANDIDATE_CHUNKS_MIN, CANDIDATE_CHUNKS_MAX);
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let ranked = self
                .rank_chunks(actor, r.root(), &query.query, query.mode, candidates)
                .await?;
            // Best chunk per object, objects in order of their best chunk.
            let mut best: Vec<(Id, ChunkScore)> = Vec::new();
            let mut seen = HashSet::new();
            for (object, hit) in ranked {
                if seen.insert(object) {
                    best.push((object, hit));
                }
            }
            let mut hits = Vec::new();
            let mut skipped = 0;
            let mut more = false;
            for (object_id, score) in best {
                let Some(result) = r.readable_result(object_id, query.filter).await? else {
                    continue;
                };
                if skipped < offset {
                    skipped += 1;
                    continue;
                }
                if hits.len() == limit {
                    more = true;
                    break;
                }
                hits.push((result, score));
            }
            let chunk_ids: Vec<i64> = hits.iter().map(|(_, s)| s.chunk_id as i64).collect();
            let highlights = self.highlights(&mut r, &query.query, &chunk_ids).await?;
            let results = hits
                .into_iter()
                .zip(highlights)
                .map(|((result, score), (highlight, _))| ContentHit {
                    result,
                    score: score.score,
                    highlight,
                })
                .collect();
            let next = offset + limit;
            Ok(Page {
                results,
                next_cursor: (more && next < CONTENT_RESULTS_MAX).then(|| format!("r{next}")),
            })
        }
        .await;
        r.finish(result).await
    }

    /// Chunk-level search for agents and integrations: the best `limit` chunks the caller may
    /// read, with scores, heading paths and highlighted passages.
    pub async fn search_chunks(
        &self,
        actor: &Actor,
        query: &str,
        mode: SearchMode,
        limit: usize,
    ) -> Result<Vec<ChunkHit>> {
        if limit == 0 || limit > CHUNK_RESULTS_MAX {
            return Err(Error::validation(
                "page_size",
                format!(
                    "should be a number between 1 and {CHUNK_RESULTS_MAX}, instead was {limit}"
                ),
            ));
        }
        let mode = if mode == SearchMode::Title {
            SearchMode::Hybrid
        } else {
            mode
        };
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let ranked = self
                .rank_chunks(
                    actor,
                    r.root(),
                    query,
                    mode,
                    (limit * CANDIDATES_PER_CHUNK_HIT)
                        .clamp(CHUNK_CANDIDATES_MIN, CANDIDATE_CHUNKS_MAX),
                )
                .await?;
            let mut kept = Vec::new();
            let mut verdicts: HashMap<Id, Option<&'static str>> = HashMap::new();
            for (object, hit) in ranked {
                if kept.len() == limit {
                    break;
                }
                let kind = match verdicts.get(&object) {
                    Some(verdict) => *verdict,
                    None => {
                        let verdict = match r.readable_result(object, None).await? {
                            Some(SearchResult::Page(_)) => Some("page"),
                            Some(SearchResult::DataSource(_)) => Some("data_source"),
                            None => None,
                        };
                        verdicts.insert(object, verdict);
                        verdict
                    }
                };
                if let Some(kind) = kind {
                    kept.push((hit, kind));
                }
            }
            let ids: Vec<i64> = kept.iter().map(|(h, _)| h.chunk_id as i64).collect();
            let highlights = self.highlights(&mut r, query, &ids).await?;
            Ok(kept
                .into_iter()
                .zip(highlights)
                .filter_map(|((hit, kind), (highlight, chunk))| {
                    let chunk = chunk?;
                    Some(ChunkHit {
                        chunk_id: hit.chunk_id as i64,
                        object_id: chunk.object_id,
                        object_kind: kind,
                        page_id: (kind == "page").then_some(chunk.object_id),
                        heading_path: chunk.heading_path.clone(),
                        text: chunk.text.clone(),
                        highlight,
                        score: hit.score,
                        provisional_passage: hit.passages.first().map(|m| m.passage.to_string()),
                        provisional_passages: hit
                            .passages
                            .iter()
                            .map(|m| PassageView {
                                text: m.passage.to_string(),
                                score: m.score,
                            })
                            .collect(),
                    })
                })
                .collect())
        }
        .await;
        r.finish(result).await
    }

    /// Ranks chunks the mirror says the actor may read, by mode, each with its object.
    async fn rank_chunks(
        &self,
        actor: &Actor,
        root: &access::Node,
        query: &str,
        mode: SearchMode,
        candidates: usize,
    ) -> Result<Vec<(Id, ChunkScore)>> {
        let content = self.content()?;
        if query.len() > search::keyword::QUERY_BYTES_MAX {
            return Err(Error::validation(
                "query",
                format!(
                    "should be at most {} bytes, instead was {}",
                    search::keyword::QUERY_BYTES_MAX,
                    query.len()
                ),
            ));
        }
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let allowed_objects = lock(&content.mirror)?.allowed(actor, root);
        let allowed = Arc::new(
            content
                .index
                .chunks_of_objects(&allowed_objects)
                .map_err(search_error)?,
        );
        let keyword = match mode {
            SearchMode::Keyword | SearchMode::Hybrid => content
                .index
                .keyword(query, candidates, allowed.clone())
                .map_err(search_error)?,
            _ => Vec::new(),
        };
        let semantic = match mode {
            SearchMode::Semantic | SearchMode::Hybrid => {
                let vector = content
                    .embedder
                    .embed_query(query.to_string())
                    .await
                    .map_err(embedding_error)?
                    .pop()
                    .ok_or_else(|| Error::Internal("the embedder returned no vector".into()))?;
                content
                    .index
                    .semantic(&vector, candidates, &allowed)
                    .map_err(search_error)?
            }
            _ => Vec::new(),
        };
        let ranked = match mode {
            SearchMode::Keyword => keyword,
            SearchMode::Semantic => semantic,
            _ => search::reciprocal_rank_fusion(&[&semantic, &keyword]),
        };
        content.index.with_owners(ranked).map_err(search_error)
    }

    /// Highlights for chunks (in order), with the chunk records.
    async fn highlights(
        &self,
        r: &mut crate::request::Request<'_>,
        query: &str,
        chunk_ids: &[i64],
    ) -> Result<Vec<(HighlightView, Option<StoredChunk>)>> {
        let content = self.content()?;
        let mut by_id: HashMap<i64, StoredChunk> =
            r.tx.chunks_by_id(chunk_ids)
                .await?
                .into_iter()
                .map(|c| (c.chunk_id, c))
                .collect();
        let chunks: Vec<Option<StoredChunk>> =
            chunk_ids.iter().map(|id| by_id.remove(id)).collect();
        let texts: Vec<&str> = chunks
            .iter()
            .map(|c| c.as_ref().map(|c| c.text.as_str()).unwrap_or(""))
            .collect();
        let passages = content
            .index
            .highlight(query, &texts)
            .map_err(search_error)?;
        Ok(chunks
            .into_iter()
            .zip(passages)
            .map(|(chunk, Highlight { text, ranges })| {
                (
                    HighlightView {
                        heading_path: chunk
                            .as_ref()
                            .map(|c| c.heading_path.clone())
                            .unwrap_or_default(),
                        text,
                        ranges,
                    },
                    chunk,
                )
            })
            .collect())
    }
}

impl crate::request::Request<'_> {
    /// The object as a search result if the caller may read it now (by the store, not the
    /// mirror) and it is not in the trash; `None` otherwise. Audited for integrations.
    async fn readable_result(
        &mut self,
        id: Id,
        filter: Option<SearchFilter>,
    ) -> Result<Option<SearchResult>> {
        let Some(node) = self.tx.get_node(id).await? else {
            return Ok(None);
        };
        let wanted = matches!(
            (&node.node, filter),
            (Node::Page(_), None | Some(SearchFilter::Page))
                | (Node::DataSource(_), None | Some(SearchFilter::DataSource))
        );
        if !wanted || node.node.in_trash() {
            return Ok(None);
        }
        let Some((chain, level)) = self.level(id).await? else {
            return Ok(None);
        };
        if chain.trashed_ancestor
            || !access::decide_with_level(self.actor, Operation::Read, level).is_allowed()
        {
            return Ok(None);
        }
        self.audit_decision(Operation::Read, id, true, "search");
        Ok(Some(match node.node {
            Node::Page(page) => SearchResult::Page(self.view_page(page).await?),
            Node::DataSource(data_source) => {
                SearchResult::DataSource(self.data_source_view(data_source).await?)
            }
            _ => return Ok(None),
        }))
    }
}
