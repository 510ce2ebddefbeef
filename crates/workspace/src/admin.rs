//! Administration: the workspace record, users, integrations, tokens, authentication and
//! sharing. Used by the CLI, the demo loader, and the HTTP edge's authentication.

use access::{
    Actor, Capabilities, Grant, Grantee, IntegrationActor, Level, Operation, Role, UserActor,
};
use argon2::password_hash::{PasswordHasher, SaltString};
use document::Id;
use rand::Rng;
use sha2::{Digest, Sha256};
use storage_sql::{
    IntegrationRecord, NodeKind, TokenSubject, UserKind, UserRecord, WorkspaceRecord,
};

use crate::{Error, Result, Workspace};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Integration,
}

/// Prefix of every API token, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "trellis_";
/// Random bytes in a token.
pub const TOKEN_ENTROPY_BYTES: usize = 32;

/// How high-entropy secrets (API tokens, webhook URL tokens) are stored: SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; TOKEN_ENTROPY_BYTES] = rand::rng().random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

impl Workspace {
    pub(crate) async fn ensure_workspace(&self, name: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        if tx.workspace().await?.is_none() {
            tx.insert_workspace(&WorkspaceRecord {
                id: Id::new(),
                name: name.to_string(),
                members_level: Level::FullAccess,
                created_time: document::time::now_ms(),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_user(&self, new_user: NewUser) -> Result<UserRecord> {
        let email = new_user.email.trim().to_lowercase();
        if !email.contains('@') || email.len() > document::limits::EMAIL_CHARS_MAX {
            return Err(Error::validation(
                "email",
                format!("`{email}` is not an email address"),
            ));
        }
        if new_user.name.trim().is_empty() {
            return Err(Error::validation("name", "should not be empty"));
        }
        let password_hash = match &new_user.password {
            Some(password) if password.len() < 8 => {
                return Err(Error::validation(
                    "password",
                    "should be at least 8 characters",
                ));
            }
            Some(password) => {
                let salt = SaltString::encode_b64(&rand::rng().random::<[u8; 16]>())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Some(
                    argon2::Argon2::default()
                        .hash_password(password.as_bytes(), &salt)
                        .map_err(|e| Error::Internal(e.to_string()))?
                        .to_string(),
                )
            }
            None => None,
        };
        let user = UserRecord {
            id: Id::new(),
            kind: UserKind::Person,
            role: new_user.role,
            name: new_user.name.trim().to_string(),
            email: Some(email),
            avatar_url: None,
            password_hash,
            integration_id: None,
            created_time: document::time::now_ms(),
        };
        let mut tx = self.store.write().await?;
        tx.insert_user(&user).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn find_user(&self, email: &str) -> Result<Option<UserRecord>> {
        let mut tx = self.store.read().await?;
        let user = tx.find_user_by_email(&email.trim().to_lowercase()).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Verifies a password against the stored argon2 hash.
    pub async fn check_password(&self, email: &str, password: &str) -> Result<UserRecord> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let user = self
            .find_user(email)
            .await?
            .ok_or_else(|| Error::Unauthorized("wrong email or password".into()))?;
        let hash = user
            .password_hash
            .clone()
            .ok_or_else(|| Error::Unauthorized("wrong email or password".into()))?;
        let parsed = PasswordHash::new(&hash).map_err(|e| Error::Internal(e.to_string()))?;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| Error::Unauthorized("wrong email or password".into()))?;
        Ok(user)
    }

    /// Creates an internal integration with its bot user, or returns the existing one.
    pub async fn ensure_integration(
        &self,
        name: &str,
        capabilities: Capabilities,
        created_by: Option<Id>,
    ) -> Result<IntegrationRecord> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::validation("name", "should be 1 to 100 characters"));
        }
        let mut tx = self.store.write().await?;
        if let Some(existing) = tx.find_integration_by_name(name).await? {
            tx.commit().await?;
            return Ok(existing);
        }
        let now = document::time::now_ms();
        let integration_id = Id::new();
        let bot = UserRecord {
            id: Id::new(),
            kind: UserKind::Bot,
            role: Role::Member,
            name: name.to_string(),
            email: None,
            avatar_url: None,
            password_hash: None,
            integration_id: Some(integration_id),
            created_time: now,
        };
        tx.insert_user(&bot).await?;
        let integration = IntegrationRecord {
            id: integration_id,
            name: name.to_string(),
            bot_user_id: bot.id,
            capabilities,
            created_by,
            created_time: now,
        };
        tx.insert_integration(&integration).await?;
        tx.commit().await?;
        Ok(integration)
    }

    /// Sets the integration's capabilities (an admin's choice at install time).
    pub async fn set_integration_capabilities(
        &self,
        integration_id: Id,
        capabilities: Capabilities,
    ) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.set_integration_capabilities(integration_id, &capabilities)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a group (or finds it by name) and adds members to it.
    pub async fn ensure_group(&self, name: &str, member_emails: &[String]) -> Result<Id> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::validation("name", "should be 1 to 100 characters"));
        }
        let mut tx = self.store.write().await?;
        let id = match tx.find_group(name).await? {
            Some(id) => id,
            None => {
                let id = Id::new();
                tx.insert_group(id, name).await?;
                id
            }
        };
        for email in member_emails {
            let user = tx
                .find_user_by_email(&email.trim().to_lowercase())
                .await?
                .ok_or_else(|| {
                    Error::validation("member", format!("no user with email {email}"))
                })?;
            tx.add_group_member(id, user.id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// What members (not guests) get on top-level pages unless a page restricts it.
    pub async fn set_members_level(&self, level: Level) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.set_members_level(level).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a token and returns it; only its hash is stored.
    pub async fn create_token(&self, subject: TokenSubject, name: &str) -> Result<String> {
        let token = new_token();
        let mut tx = self.store.write().await?;
        tx.insert_token(&hash_token(&token), subject, name, document::time::now_ms())
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Resolves a bearer token to the actor it acts as.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let invalid = || Error::Unauthorized("API token is invalid.".into());
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(invalid());
        }
        let mut tx = self.store.read().await?;
        let record = tx
            .find_token(&hash_token(token))
            .await?
            .ok_or_else(invalid)?;
        let actor = match record.subject {
            TokenSubject::User(user_id) => {
                let user = tx.get_user(user_id).await?.ok_or_else(invalid)?;
                Actor::User(UserActor {
                    id: user.id,
                    role: user.role,
                    groups: tx.user_groups(user.id).await?,
                })
            }
            TokenSubject::Integration(integration_id) => {
                let integration = tx
                    .get_integration(integration_id)
                    .await?
                    .ok_or_else(invalid)?;
                Actor::Bot(IntegrationActor {
                    id: integration.id,
                    bot_user_id: integration.bot_user_id,
                    capabilities: integration.capabilities,
                })
            }
        };
        tx.commit().await?;
        Ok(actor)
    }

    /// The actor for a user acting as themself (CLI, demo loader).
    pub async fn actor_for_user(&self, user_id: Id) -> Result<Actor> {
        let mut tx = self.store.read().await?;
        let user = tx
            .get_user(user_id)
            .await?
            .ok_or_else(|| Error::not_found("user", user_id))?;
        let groups = tx.user_groups(user_id).await?;
        tx.commit().await?;
        Ok(Actor::User(UserActor {
            id: user.id,
            role: user.role,
            groups,
        }))
    }

    /// Shares a node: sets (or with `None` removes) a grant. Needs full access.
    pub async fn share(
        &self,
        actor: &Actor,
        node_id: Id,
        grantee: Grantee,
        level: Option<Level>,
    ) -> Result<()> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            match level {
                Some(level) => r.tx.set_grant(node_id, Grant { grantee, level }).await?,
                None => {
                    r.tx.remove_grant(node_id, grantee).await?;
                }
            }
            r.log(
                "page.sharing_updated",
                node.node.kind(),
                node_id,
                node.node.parent().node_id(),
                Vec::new(),
            )
            .await
        }
        .await;
        r.finish(result).await
    }

    /// Makes a node stop (or resume) inheriting access from its parent. Needs full access.
    pub async fn set_inherits(&self, actor: &Actor, node_id: Id, inherits: bool) -> Result<()> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            if !inherits {
                // Whoever restricts keeps full access, so a restriction cannot lock its author out.
                if let Some(user) = r.actor.user() {
                    r.tx.set_grant(
                        node_id,
                        Grant {
                            grantee: Grantee::User(user.id),
                            level: Level::FullAccess,
                        },
                    )
                    .await?;
                }
            }
            r.tx.set_inherits(node_id, inherits).await?;
            r.log(
                "page.sharing_updated",
                NodeKind::Page,
                node_id,
                node.node.parent().node_id(),
                Vec::new(),
            )
            .await
        }
        .await;
        r.finish(result).await
    }

    /// A node's sharing: whether it inherits, and its own grants. Needs full access.
    pub async fn sharing(&self, actor: &Actor, node_id: Id) -> Result<(bool, Vec<Grant>)> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let (node, _) = r.require(node_id, Operation::Share, "page").await?;
            Ok((node.inherits, r.tx.grants(node_id).await?))
        }
        .await;
        r.finish(result).await
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        integration_id: Option<Id>,
        limit: i64,
    ) -> Result<Vec<storage_sql::AuditEntry>> {
        let mut tx = self.store.read().await?;
        let entries = tx.audit_entries(integration_id, limit).await?;
        tx.commit().await?;
        Ok(entries)
    }

    /// Change-log events after `cursor`.
    pub async fn changes_after(
        &self,
        cursor: storage_sql::ChangeCursor,
        limit: i64,
    ) -> Result<Vec<storage_sql::ChangeRecord>> {
        let mut tx = self.store.read().await?;
        let changes = tx.read_changes(cursor, limit).await?;
        tx.commit().await?;
        Ok(changes)
    }
}
