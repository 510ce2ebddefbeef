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

fn user_view(actor: &access::Actor, user: UserRecord, workspace_name: &str) -> UserView {
    UserView {
        user,
        show_email: access::user_information(actor) == UserInformation::WithEmail,
        workspace_name: workspace_name.to_string(),
    }
}

fn require_user_information(actor: &access::Actor) -> Result<()> {
    if access::user_information(actor) == UserInformation::None {
        return Err(Error::Restricted(
            "Insufficient permissions for this endpoint: the integration lacks the user information capability.".into(),
        ));
    }
    Ok(())
}

impl Workspace {
    /// The caller: a person, or an integration's bot. Callers always see their own email.
    pub async fn me(&self, actor: &access::Actor) -> Result<UserView> {
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(actor.author_id())
            .await?
            .ok_or_else(|| Error::Internal("caller has no user".into()))?;
        let workspace_name = tx.workspace().await?.map(|w| w.name).unwrap_or_default();
        tx.commit().await?;
        Ok(UserView {
            show_email: true,
            ..user_view(actor, user, &workspace_name)
        })
    }

    pub async fn retrieve_user(&self, actor: &access::Actor, id: Id) -> Result<UserView> {
        require_user_information(actor)?;
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(id)
            .await?
            .ok_or_else(|| Error::not_found("user", id))?;
        let workspace_name = tx.workspace().await?.map(|w| w.name).unwrap_or_default();
        tx.commit().await?;
        Ok(user_view(actor, user, &workspace_name))
    }

    pub async fn list_users(
        &self,
        actor: &access::Actor,
        start_cursor: Option<String>,
        size: Option<usize>,
    ) -> Result<Page<UserView>> {
        require_user_information(actor)?;
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
        let workspace_name = tx.workspace().await?.map(|w| w.name).unwrap_or_default();
        tx.commit().await?;
        let has_more = users.len() as i64 > limit;
        let results: Vec<UserView> = users
            .into_iter()
            .take(limit as usize)
            .map(|user| user_view(actor, user, &workspace_name))
            .collect();
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
