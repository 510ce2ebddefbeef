//! A write transaction held by a caller outside this crate, so that several operations and the
//! caller's own bookkeeping commit together or not at all. The integrations service applies a
//! run's staged writes through one, with the run's delegated actor, and finishes the run's
//! record in the same transaction: a run's effects and its `ok` status land together.

use access::{Actor, Operation};
use document::block::NewBlock;
use document::{DataSource, Id, RichText};
use storage_sql::Tx;

use crate::blocks::AppendPosition;
use crate::comments::CommentTarget;
use crate::pages::{NewPage, PageUpdate};
use crate::request::Request;
use crate::{Result, Workspace};

/// Operations decided and audited exactly as the same API requests would be, for one actor,
/// in one transaction. Dropping a session without [`Session::finish`] rolls it back.
pub struct Session<'a> {
    request: Request<'a>,
}

impl Workspace {
    /// Opens a write session for `actor`.
    pub async fn session<'a>(&'a self, actor: &'a Actor) -> Result<Session<'a>> {
        Ok(Session {
            request: self.begin(actor, true).await?,
        })
    }
}

impl Session<'_> {
    /// Creates a page; returns its id.
    pub async fn create_page(&mut self, new_page: NewPage) -> Result<Id> {
        Ok(self.request.create_page(new_page).await?.page.id)
    }

    pub async fn update_page(&mut self, id: Id, update: PageUpdate) -> Result<()> {
        self.request.update_page(id, |_| Ok(update)).await.map(drop)
    }

    /// Appends blocks at the end of a page or block.
    pub async fn append_children(&mut self, id: Id, blocks: Vec<NewBlock>) -> Result<()> {
        document::block::validate_new_blocks(&blocks, "children")?;
        self.request
            .append_children(id, blocks, AppendPosition::End)
            .await
            .map(drop)
    }

    /// Comments on a page.
    pub async fn add_comment(&mut self, page_id: Id, rich_text: Vec<RichText>) -> Result<()> {
        self.request
            .create_comment(CommentTarget::Page(page_id), rich_text)
            .await
            .map(drop)
    }

    /// The schema of the data source a page is a row of (`None` for other pages), as this
    /// session sees it: pages created earlier in the session count.
    pub async fn schema_of_page(&mut self, page_id: Id) -> Result<Option<DataSource>> {
        let page = self.request.require_page(page_id, Operation::Read).await?;
        self.request.data_source_of(&page).await
    }

    /// A data source the actor may read.
    pub async fn data_source(&mut self, id: Id) -> Result<DataSource> {
        self.request.require_data_source(id, Operation::Read).await
    }

    /// The session's transaction, for the caller's own records.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.request.tx
    }

    /// Commits when `result` is `Ok`, rolls back otherwise; the audit trail of the session's
    /// decisions is kept either way.
    pub async fn finish<T>(self, result: Result<T>) -> Result<T> {
        self.request.finish(result).await
    }
}
