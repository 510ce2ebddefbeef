//! Users: list, retrieve, and the caller itself.

use access::UserInformation;
use document::Id;
use storage_sql::UserRecord;

use crate::request::{Page, invalid_cursor, page_size};
use crate::{Error, Result, Workspace};

/// A user as the caller may see it: the email only when the caller may read emails.
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: UserRecord,
    pub show_email: bool,
    pub workspace_name: String,
}

impl Workspace {
    async fn user_view(&self, actor: &access::Actor, user: UserRecord) -> Result<UserView> {
        let information = access::user_information(actor);
        let mut tx = self.store.read().await?;
        let workspace_name = tx.workspace().await?.map(|w| w.name).unwrap_or_default();
        tx.commit().await?;
        Ok(UserView {
            user,
            show_email: information == UserInformation::WithEmail,
            workspace_name,
        })
    }

    /// The caller: a person, or an integration's bot.
    pub async fn me(&self, actor: &access::Actor) -> Result<UserView> {
        let id = actor.author_id();
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(id)
            .await?
            .ok_or_else(|| Error::Internal("caller has no user".into()))?;
        tx.commit().await?;
        let mut view = self.user_view(actor, user).await?;
        view.show_email = true;
        Ok(view)
    }

    pub async fn retrieve_user(&self, actor: &access::Actor, id: Id) -> Result<UserView> {
        if access::user_information(actor) == UserInformation::None {
            return Err(Error::Restricted(
                "Insufficient permissions for this endpoint: the integration lacks the user information capability.".into(),
            ));
        }
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(id)
            .await?
            .ok_or_else(|| Error::not_found("user", id))?;
        tx.commit().await?;
        self.user_view(actor, user).await
    }

    pub async fn list_users(
        &self,
        actor: &access::Actor,
        start_cursor: Option<String>,
        size: Option<usize>,
    ) -> Result<Page<UserView>> {
        if access::user_information(actor) == UserInformation::None {
            return Err(Error::Restricted(
                "Insufficient permissions for this endpoint: the integration lacks the user information capability.".into(),
            ));
        }
        // Guests do not list the workspace's members, as in Notion.
        if matches!(actor, access::Actor::User(user) if user.role == access::Role::Guest) {
            return Err(Error::Restricted(
                "Guests cannot list the workspace's users.".into(),
            ));
        }
        let limit = page_size(size)?;
        let after = match start_cursor {
            None => None,
            Some(cursor) => Some(Id::parse(&cursor).ok_or_else(invalid_cursor)?),
        };
        let mut tx = self.store.read().await?;
        let users = tx.list_users(after, limit + 1).await?;
        tx.commit().await?;
        let has_more = users.len() as i64 > limit;
        let mut results = Vec::new();
        for user in users.into_iter().take(limit as usize) {
            results.push(self.user_view(actor, user).await?);
        }
        let next_cursor = if has_more {
            results.last().map(|v| v.user.id.to_string())
        } else {
            None
        };
        Ok(Page {
            results,
            next_cursor,
        })
    }
}
