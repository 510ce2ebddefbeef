//! The workspace record, users (people and bots), groups, integrations and API tokens.
//! Tokens are stored as SHA-256 hashes computed by the caller; passwords as argon2 hashes.

use access::{Capabilities, Level, Role, UserInformation};
use document::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Tx, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceRecord {
    pub id: Id,
    pub name: String,
    /// What members get on top-level pages by default.
    pub members_level: Level,
    pub created_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Person,
    Bot,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: Id,
    pub kind: UserKind,
    pub role: Role,
    pub name: String,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub password_hash: Option<String>,
    pub integration_id: Option<Id>,
    pub created_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationRecord {
    pub id: Id,
    pub name: String,
    pub bot_user_id: Id,
    pub capabilities: Capabilities,
    pub created_by: Option<Id>,
    pub created_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSubject {
    User(Id),
    Integration(Id),
}

/// An API token as stored, without its secret: the hash is the key it is found by, and
/// never leaves this crate.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: Id,
    pub subject: TokenSubject,
    pub name: String,
    pub created_time: i64,
    /// When it stops working; `None` never.
    pub expires_time: Option<i64>,
    pub revoked_time: Option<i64>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Member => "member",
        Role::Guest => "guest",
    }
}

fn parse_role(text: &str) -> Result<Role> {
    Ok(match text {
        "owner" => Role::Owner,
        "member" => Role::Member,
        "guest" => Role::Guest,
        other => return Err(Error::Corrupt(format!("unknown role `{other}`"))),
    })
}

/// Capabilities as a comma-separated list, e.g. `read_content,insert_content,user_information:with_email`.
pub fn encode_capabilities(capabilities: &Capabilities) -> String {
    let mut parts = Vec::new();
    for (on, name) in [
        (capabilities.read_content, "read_content"),
        (capabilities.update_content, "update_content"),
        (capabilities.insert_content, "insert_content"),
        (capabilities.read_comments, "read_comments"),
        (capabilities.insert_comments, "insert_comments"),
    ] {
        if on {
            parts.push(name.to_string());
        }
    }
    parts.push(
        match capabilities.user_information {
            UserInformation::None => "user_information:none",
            UserInformation::WithoutEmail => "user_information:without_email",
            UserInformation::WithEmail => "user_information:with_email",
        }
        .to_string(),
    );
    parts.join(",")
}

pub fn decode_capabilities(text: &str) -> Result<Capabilities> {
    let mut capabilities = Capabilities {
        read_content: false,
        update_content: false,
        insert_content: false,
        read_comments: false,
        insert_comments: false,
        user_information: UserInformation::None,
    };
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part {
            "read_content" => capabilities.read_content = true,
            "update_content" => capabilities.update_content = true,
            "insert_content" => capabilities.insert_content = true,
            "read_comments" => capabilities.read_comments = true,
            "insert_comments" => capabilities.insert_comments = true,
            "user_information:none" => capabilities.user_information = UserInformation::None,
            "user_information:without_email" => {
                capabilities.user_information = UserInformation::WithoutEmail
            }
            "user_information:with_email" => {
                capabilities.user_information = UserInformation::WithEmail
            }
            other => return Err(Error::Corrupt(format!("unknown capability `{other}`"))),
        }
    }
    Ok(capabilities)
}

const USER_COLUMNS: &str =
    "id, kind, role, name, email, avatar_url, password_hash, integration_id, created_time";

fn decode_user(row: &AnyRow) -> Result<UserRecord> {
    let integration: Option<String> = row.try_get("integration_id")?;
    Ok(UserRecord {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        kind: if row.try_get::<String, _>("kind")? == "bot" {
            UserKind::Bot
        } else {
            UserKind::Person
        },
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        avatar_url: row.try_get("avatar_url")?,
        password_hash: row.try_get("password_hash")?,
        integration_id: integration.as_deref().map(parse_id).transpose()?,
        created_time: row.try_get("created_time")?,
    })
}

fn decode_integration(row: &AnyRow) -> Result<IntegrationRecord> {
    let created_by: Option<String> = row.try_get("created_by")?;
    Ok(IntegrationRecord {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        bot_user_id: parse_id(&row.try_get::<String, _>("bot_user_id")?)?,
        capabilities: decode_capabilities(&row.try_get::<String, _>("capabilities")?)?,
        created_by: created_by.as_deref().map(parse_id).transpose()?,
        created_time: row.try_get("created_time")?,
    })
}

impl Tx {
    pub async fn workspace(&mut self) -> Result<Option<WorkspaceRecord>> {
        let row =
            sqlx::query("SELECT id, name, members_level, created_time FROM workspace LIMIT 1")
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|row| {
            let level: String = row.try_get(2)?;
            Ok(WorkspaceRecord {
                id: parse_id(&row.try_get::<String, _>(0)?)?,
                name: row.try_get(1)?,
                members_level: Level::from_name(&level)
                    .ok_or_else(|| Error::Corrupt(format!("level `{level}`")))?,
                created_time: row.try_get(3)?,
            })
        })
        .transpose()
    }

    pub async fn insert_workspace(&mut self, workspace: &WorkspaceRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO workspace (id, name, members_level, created_time) VALUES ($1, $2, $3, $4)",
        )
        .bind(workspace.id.to_string())
        .bind(workspace.name.clone())
        .bind(workspace.members_level.name())
        .bind(workspace.created_time)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn set_members_level(&mut self, level: Level) -> Result<()> {
        sqlx::query("UPDATE workspace SET members_level = $1")
            .bind(level.name())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn find_group(&mut self, name: &str) -> Result<Option<Id>> {
        let row = sqlx::query("SELECT id FROM user_groups WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .transpose()
    }

    pub async fn set_integration_capabilities(
        &mut self,
        id: Id,
        capabilities: &Capabilities,
    ) -> Result<()> {
        sqlx::query("UPDATE integrations SET capabilities = $1 WHERE id = $2")
            .bind(encode_capabilities(capabilities))
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_user(&mut self, user: &UserRecord) -> Result<()> {
        let result = sqlx::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(user.id.to_string())
        .bind(if user.kind == UserKind::Bot {
            "bot"
        } else {
            "person"
        })
        .bind(role_name(user.role))
        .bind(user.name.clone())
        .bind(user.email.clone())
        .bind(user.avatar_url.clone())
        .bind(user.password_hash.clone())
        .bind(user.integration_id.map(|id| id.to_string()))
        .bind(user.created_time)
        .execute(&mut *self.tx)
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Conflict(format!(
                    "a user with email {} already exists",
                    user.email.clone().unwrap_or_default()
                )))
            }
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    pub async fn get_user(&mut self, id: Id) -> Result<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(decode_user).transpose()
    }

    pub async fn find_user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_user).transpose()
    }

    /// Members and bots ordered by id, after `after`. Guests are not listed, as in Notion.
    pub async fn list_users(&mut self, after: Option<Id>, limit: i64) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 AND role <> 'guest' ORDER BY id LIMIT $2"))
            .bind(after.map(|id| id.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(decode_user).collect()
    }

    pub async fn user_groups(&mut self, user_id: Id) -> Result<Vec<Id>> {
        let rows = sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1")
            .bind(user_id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .collect()
    }

    pub async fn insert_group(&mut self, id: Id, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO user_groups (id, name) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(name.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn add_group_member(&mut self, group_id: Id, user_id: Id) -> Result<()> {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id.to_string())
            .bind(user_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
            .bind(group_id.to_string())
            .bind(user_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_integration(&mut self, integration: &IntegrationRecord) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO integrations (id, name, bot_user_id, capabilities, created_by, created_time) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(integration.id.to_string())
        .bind(integration.name.clone())
        .bind(integration.bot_user_id.to_string())
        .bind(encode_capabilities(&integration.capabilities))
        .bind(integration.created_by.map(|id| id.to_string()))
        .bind(integration.created_time)
        .execute(&mut *self.tx)
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Conflict(
                format!("an integration named {} already exists", integration.name),
            )),
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    pub async fn get_integration(&mut self, id: Id) -> Result<Option<IntegrationRecord>> {
        let row = sqlx::query("SELECT id, name, bot_user_id, capabilities, created_by, created_time FROM integrations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(decode_integration).transpose()
    }

    pub async fn find_integration_by_name(
        &mut self,
        name: &str,
    ) -> Result<Option<IntegrationRecord>> {
        let row = sqlx::query("SELECT id, name, bot_user_id, capabilities, created_by, created_time FROM integrations WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(decode_integration).transpose()
    }

    pub async fn insert_token(&mut self, hash: &str, token: &TokenRecord) -> Result<()> {
        let (kind, user, integration) = match token.subject {
            TokenSubject::User(id) => ("personal", Some(id.to_string()), None),
            TokenSubject::Integration(id) => ("integration", None, Some(id.to_string())),
        };
        sqlx::query(&format!(
            "INSERT INTO tokens (hash, {TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(hash.to_string())
        .bind(token.id.to_string())
        .bind(kind)
        .bind(user)
        .bind(integration)
        .bind(token.name.clone())
        .bind(token.created_time)
        .bind(token.expires_time)
        .bind(token.revoked_time)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The token with this hash, revoked and expired ones included: the caller decides.
    pub async fn find_token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1"
        ))
        .bind(hash.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_token).transpose()
    }

    pub async fn get_token(&mut self, id: Id) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(decode_token).transpose()
    }

    /// Tokens ordered by id after `after`: a user's personal tokens, or every token (personal
    /// and integration) when `user_id` is `None`.
    pub async fn list_tokens(
        &mut self,
        user_id: Option<Id>,
        after: Option<Id>,
        limit: i64,
    ) -> Result<Vec<TokenRecord>> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows = match user_id {
            Some(user_id) => {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(user_id.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?
            }
        };
        rows.iter().map(decode_token).collect()
    }

    /// Marks a token revoked at `time`; a token already revoked keeps its first time.
    pub async fn revoke_token(&mut self, id: Id, time: i64) -> Result<()> {
        sqlx::query("UPDATE tokens SET revoked_time = $1 WHERE id = $2 AND revoked_time IS NULL")
            .bind(time)
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

const TOKEN_COLUMNS: &str =
    "id, kind, user_id, integration_id, name, created_time, expires_time, revoked_time";

fn decode_token(row: &AnyRow) -> Result<TokenRecord> {
    let kind: String = row.try_get("kind")?;
    let user: Option<String> = row.try_get("user_id")?;
    let integration: Option<String> = row.try_get("integration_id")?;
    let subject = match (kind.as_str(), user, integration) {
        ("personal", Some(user), _) => TokenSubject::User(parse_id(&user)?),
        ("integration", _, Some(integration)) => TokenSubject::Integration(parse_id(&integration)?),
        _ => {
            return Err(Error::Corrupt(format!(
                "token of kind `{kind}` without its subject"
            )));
        }
    };
    Ok(TokenRecord {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        subject,
        name: row.try_get("name")?,
        created_time: row.try_get("created_time")?,
        expires_time: row.try_get("expires_time")?,
        revoked_time: row.try_get("revoked_time")?,
    })
}
