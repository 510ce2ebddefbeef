//! `trellis token`, `user`, `group` and `workspace`: administration on the store.

use anyhow::{Context, Result, bail};
use workspace::{Capabilities, Level, Role, TokenSubject};

use crate::cli::{
    GroupCreateArgs, TokenCreateArgs, TokenListArgs, TokenRevokeArgs, UserCreateArgs,
    WorkspaceSetArgs,
};

/// `trellis token create`.
pub async fn token_create(args: TokenCreateArgs) -> Result<()> {
    let TokenCreateArgs {
        user,
        integration,
        capabilities,
        name,
        expires_in_days,
        store,
    } = args;
    let workspace = store.open().await?;
    let subject = match (user, integration) {
        (Some(email), _) => {
            let user = workspace
                .find_user(&email)
                .await?
                .with_context(|| format!("no user with email {email}"))?;
            TokenSubject::User(user.id)
        }
        (None, Some(integration)) => {
            let chosen = capabilities
                .as_deref()
                .map(|text| {
                    workspace::decode_capabilities(text)
                        .map_err(|_| anyhow::anyhow!("--capabilities: `{text}` is not a list of read_content, update_content, insert_content, read_comments, insert_comments, user_information:none|without_email|with_email"))
                })
                .transpose()?;
            let record = workspace
                .ensure_integration(&integration, chosen.unwrap_or(Capabilities::ALL), None)
                .await?;
            if let Some(chosen) = chosen
                && chosen != record.capabilities
            {
                workspace
                    .set_integration_capabilities(record.id, chosen)
                    .await?;
            }
            TokenSubject::Integration(record.id)
        }
        (None, None) => bail!("give --user EMAIL or --integration NAME"),
    };
    let (_, token) = workspace
        .issue_token(subject, &name, expires_in_days)
        .await?;
    println!("{token}");
    Ok(())
}

/// `trellis token list`.
pub async fn token_list(args: TokenListArgs) -> Result<()> {
    let TokenListArgs { user, store } = args;
    let workspace = store.open().await?;
    let user_id = match &user {
        Some(email) => Some(
            workspace
                .find_user(email)
                .await?
                .with_context(|| format!("no user with email {email}"))?
                .id,
        ),
        None => None,
    };
    let now = workspace::clock::now_ms();
    let time_text = workspace::time::format_ms;
    let time = |ms: Option<i64>| ms.map(time_text).unwrap_or_else(|| "-".into());
    println!("ID\tSTATUS\tNAME\tSUBJECT\tCREATED\tEXPIRES\tREVOKED");
    for token in workspace.all_tokens(user_id).await? {
        let subject = match token.subject {
            TokenSubject::User(id) => format!("user:{id}"),
            TokenSubject::Integration(id) => format!("integration:{id}"),
        };
        println!(
            "{}\t{}\t{}\t{subject}\t{}\t{}\t{}",
            token.id,
            workspace::token_status(&token, now).name(),
            token.name,
            time_text(token.created_time),
            time(token.expires_time),
            time(token.revoked_time),
        );
    }
    Ok(())
}

/// `trellis token revoke`.
pub async fn token_revoke(args: TokenRevokeArgs) -> Result<()> {
    let TokenRevokeArgs { token_id, store } = args;
    let id = token_id.parse().map_err(|()| {
        anyhow::anyhow!("`{token_id}` is not a token id (see `trellis token list`)")
    })?;
    let workspace = store.open().await?;
    let token = match workspace.revoke_any_token(id).await {
        Err(workspace::Error::NotFound { .. }) => bail!("no token with id {id}"),
        other => other?,
    };
    println!(
        "revoked token {} ({}) at {}",
        token.id,
        token.name,
        token
            .revoked_time
            .map(workspace::time::format_ms)
            .unwrap_or_default()
    );
    Ok(())
}

/// `trellis user create`.
pub async fn user_create(args: UserCreateArgs) -> Result<()> {
    let UserCreateArgs {
        email,
        name,
        role,
        password,
        store,
    } = args;
    let role = match role.as_str() {
        "owner" => Role::Owner,
        "member" => Role::Member,
        "guest" => Role::Guest,
        other => bail!("--role should be owner, member or guest, not `{other}`"),
    };
    // The first user of a new workspace is how one starts without --demo, so this
    // command may create the store; it says so.
    let existed = store.exists();
    let workspace = store.open_or_create().await?;
    if !existed {
        eprintln!("created a new workspace in {}", store.data_dir.display());
    }
    let user = workspace
        .create_user(workspace::NewUser {
            email,
            name,
            role,
            password,
        })
        .await?;
    println!("{}", user.id);
    Ok(())
}

/// `trellis group create`.
pub async fn group_create(args: GroupCreateArgs) -> Result<()> {
    let GroupCreateArgs {
        name,
        members,
        store,
    } = args;
    let workspace = store.open().await?;
    println!("{}", workspace.ensure_group(&name, &members).await?);
    Ok(())
}

/// `trellis workspace set`.
pub async fn workspace_set(args: WorkspaceSetArgs) -> Result<()> {
    let WorkspaceSetArgs {
        members_access,
        store,
    } = args;
    let level = match members_access.as_str() {
        "none" => Level::None,
        other => Level::from_name(other).with_context(|| {
            format!("--members-access should be none, can_view, can_comment, can_edit or full_access, not `{other}`")
        })?,
    };
    let workspace = store.open().await?;
    workspace.set_members_level(level).await?;
    println!("members get {} on top-level pages", members_access);
    Ok(())
}
