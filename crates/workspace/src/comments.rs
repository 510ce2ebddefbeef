//! Comments on pages and blocks.

use access::Operation;
use document::{Id, RichText};
use storage_sql::{Comment, Node};

use crate::request::{Page, Request, invalid_cursor, page_size};
use crate::{Error, Result, Workspace};

#[derive(Debug, Clone)]
pub enum CommentTarget {
    Page(Id),
    Block(Id),
    Discussion(Id),
}

fn encode_cursor(comment: &Comment) -> String {
    format!("m{}_{}", comment.created_time, comment.id)
}

fn decode_cursor(cursor: &str) -> Option<(i64, Id)> {
    let (time, id) = cursor.strip_prefix('m')?.split_once('_')?;
    Some((time.parse().ok()?, Id::parse(id)?))
}

impl Workspace {
    pub async fn create_comment(
        &self,
        actor: &access::Actor,
        target: CommentTarget,
        rich_text: Vec<RichText>,
    ) -> Result<Comment> {
        let mut r = self.begin(actor, true).await?;
        let result = r.create_comment(target, rich_text).await;
        r.finish(result).await
    }

    /// Comments on a page (its page-level discussions) or a block, oldest first.
    pub async fn list_comments(
        &self,
        actor: &access::Actor,
        block_id: Id,
        start_cursor: Option<String>,
        size: Option<usize>,
    ) -> Result<Page<Comment>> {
        let limit = page_size(size)?;
        let mut r = self.begin(actor, false).await?;
        let result = async {
            r.require(block_id, Operation::ReadComments, "block")
                .await?;
            let after = match start_cursor {
                None => None,
                Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(invalid_cursor)?),
            };
            let mut comments = r.tx.comments(block_id, after, limit + 1).await?;
            let has_more = comments.len() as i64 > limit;
            comments.truncate(limit as usize);
            for comment in comments.iter_mut() {
                r.trim_rich_text(&mut comment.rich_text).await?;
            }
            let next_cursor = if has_more {
                comments.last().map(encode_cursor)
            } else {
                None
            };
            Ok(Page {
                results: comments,
                next_cursor,
            })
        }
        .await;
        r.finish(result).await
    }
}

impl Request<'_> {
    /// Adds a comment where the actor may insert one.
    pub async fn create_comment(
        &mut self,
        target: CommentTarget,
        mut rich_text: Vec<RichText>,
    ) -> Result<Comment> {
        document::rich_text::validate(&rich_text).map_err(|e| e.within("rich_text"))?;
        if rich_text.is_empty() {
            return Err(Error::validation("rich_text", "should not be empty"));
        }
        let (page_id, block_id, discussion_id) = match target {
            CommentTarget::Page(id) => (id, None, Id::new()),
            CommentTarget::Block(id) => {
                let (_, chain) = self.require(id, Operation::Read, "block").await?;
                (chain.nearest_page().unwrap_or(id), Some(id), Id::new())
            }
            CommentTarget::Discussion(discussion_id) => {
                let first = self
                    .tx
                    .get_comment_discussion(discussion_id)
                    .await?
                    .ok_or_else(|| Error::not_found("discussion", discussion_id))?;
                (first.page_id, first.block_id, discussion_id)
            }
        };
        let target = block_id.unwrap_or(page_id);
        let (node, _) = self
            .require(target, Operation::InsertComment, "page")
            .await?;
        if matches!(node.node, Node::Database(_) | Node::DataSource(_)) {
            return Err(Error::validation(
                "parent",
                "comments can be added to pages and blocks",
            ));
        }
        self.trim_rich_text(&mut rich_text).await?;
        let comment = Comment {
            id: Id::new(),
            page_id,
            block_id,
            discussion_id,
            rich_text,
            created_time: self.now,
            created_by: self.actor.author_id(),
        };
        self.tx.insert_comment(&comment).await?;
        self.log_comment(comment.id, page_id).await?;
        Ok(comment)
    }
}
