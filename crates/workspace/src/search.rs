//! Title search over pages and data sources, trimmed to what the caller can read.

use access::Operation;
use document::Id;
use storage_sql::{Node, NodeKind};

use crate::data::DataSourceView;
use crate::pages::PageView;
use crate::request::{Page, invalid_cursor, page_size};
use crate::{Result, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchFilter {
    Page,
    DataSource,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub filter: Option<SearchFilter>,
    /// Sort by last edit, oldest first; newest first by default.
    pub ascending: bool,
    pub start_cursor: Option<String>,
    pub page_size: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum SearchResult {
    Page(PageView),
    DataSource(DataSourceView),
}

/// Candidates read per batch while trimming.
const SEARCH_BATCH_ROWS: i64 = 200;

fn encode_cursor(time: i64, id: Id) -> String {
    format!("s{time}_{id}")
}

fn decode_cursor(cursor: &str) -> Option<(i64, Id)> {
    let (time, id) = cursor.strip_prefix('s')?.split_once('_')?;
    Some((time.parse().ok()?, Id::parse(id)?))
}

impl Workspace {
    /// Searches titles. Results the caller can't read are skipped before the page is
    /// filled, and the cursor is the last *returned* result, so neither counts nor
    /// cursors reveal hidden objects.
    pub async fn search(
        &self,
        actor: &access::Actor,
        request: SearchRequest,
    ) -> Result<Page<SearchResult>> {
        let limit = page_size(request.page_size)? as usize;
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let kinds: &[NodeKind] = match request.filter {
                None => &[NodeKind::Page, NodeKind::DataSource],
                Some(SearchFilter::Page) => &[NodeKind::Page],
                Some(SearchFilter::DataSource) => &[NodeKind::DataSource],
            };
            let mut after = match &request.start_cursor {
                None => None,
                Some(cursor) => Some(decode_cursor(cursor).ok_or_else(invalid_cursor)?),
            };
            let mut results = Vec::new();
            let mut last_returned = None;
            loop {
                let batch =
                    r.tx.search_titles(
                        &request.query,
                        kinds,
                        request.ascending,
                        after,
                        SEARCH_BATCH_ROWS,
                    )
                    .await?;
                let exhausted = (batch.len() as i64) < SEARCH_BATCH_ROWS;
                for candidate in batch {
                    let id = candidate.node.id();
                    let (_, _, last_edited, _) = match &candidate.node {
                        Node::Page(p) => (
                            p.created_time,
                            p.created_by,
                            p.last_edited_time,
                            p.last_edited_by,
                        ),
                        Node::DataSource(d) => (
                            d.created_time,
                            d.created_by,
                            d.last_edited_time,
                            d.last_edited_by,
                        ),
                        _ => continue,
                    };
                    after = Some((last_edited, id));
                    let Some((chain, level)) = r.level(id).await? else {
                        continue;
                    };
                    if chain.trashed_ancestor
                        || !access::decide_with_level(r.actor, Operation::Read, level).is_allowed()
                    {
                        continue;
                    }
                    if results.len() == limit {
                        let next_cursor = last_returned.map(|(time, id)| encode_cursor(time, id));
                        return Ok(Page {
                            results,
                            next_cursor,
                        });
                    }
                    r.audit_decision(Operation::Read, id, true, "search");
                    results.push(match candidate.node {
                        Node::Page(page) => SearchResult::Page(r.view_page(page).await?),
                        Node::DataSource(data_source) => {
                            SearchResult::DataSource(r.data_source_view(data_source).await?)
                        }
                        _ => continue,
                    });
                    last_returned = Some((last_edited, id));
                }
                if exhausted {
                    return Ok(Page {
                        results,
                        next_cursor: None,
                    });
                }
            }
        }
        .await;
        r.finish(result).await
    }
}
