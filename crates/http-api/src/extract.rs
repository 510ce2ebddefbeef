//! What a handler takes from a request before it runs: the authenticated actor, the ids in
//! its path, the `Notion-Version` it speaks, and its JSON body.
//!
//! Argument order is evaluation order: a handler lists [`Authenticated`] first, so a request
//! is authenticated and rate-limited before its path ids are parsed and before its body is
//! read, and [`JsonBody`] last.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use document::Id;
use serde_json::Value;
use workspace::Actor;

use crate::error::ApiError;
use crate::request::json_body;
use crate::routes::AppState;

/// Who a request's rate limit counts against once it is authenticated: the user, and the
/// integration acting for them or alone.
pub(crate) type Principal = (Option<Id>, Option<Id>);

fn principal(actor: &Actor) -> Principal {
    (
        actor.user().map(|user| user.id),
        actor.integration().map(|integration| integration.id),
    )
}

impl AppState {
    /// The actor a request's bearer token names, without the rate limit.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        self.workspace
            .authenticate(token)
            .await
            .map_err(|_| ApiError::unauthorized())
    }

    /// Authenticates the bearer token, then checks the principal's rate limit.
    async fn actor(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let actor = self.authenticate(headers).await?;
        self.limiter
            .check(&principal(&actor))
            .map_err(ApiError::rate_limited)?;
        Ok(actor)
    }
}

/// The actor a request's bearer token names, past its principal's rate limit; `401
/// unauthorized` or `429 rate_limited` otherwise.
pub(crate) struct Authenticated(pub(crate) Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.actor(&parts.headers).await.map(Authenticated)
    }
}

/// Parses an id named `name` in the request (`page_id`); a bad one is Notion's validation
/// error for a path.
pub(crate) fn path_id(name: &str, value: &str) -> Result<Id, ApiError> {
    Id::parse(value).ok_or_else(|| ApiError::path_id(name, value))
}

/// The route's `{id}` segment, parsed; `name` is what errors call it.
async fn id_param(parts: &mut Parts, name: &str) -> Result<Id, Response> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(IntoResponse::into_response)?;
    let value = params
        .iter()
        .find_map(|(key, value)| (key == "id").then_some(value))
        .unwrap_or_default();
    path_id(name, value).map_err(IntoResponse::into_response)
}

/// One extractor per kind of id in a path, each naming its id as Notion's errors do.
macro_rules! path_ids {
    ($($kind:ident => $name:literal),* $(,)?) => {$(
        #[doc = concat!("The path's `{id}` as a `", $name, "`.")]
        pub(crate) struct $kind(pub(crate) Id);

        impl<S: Send + Sync> FromRequestParts<S> for $kind {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
                id_param(parts, $name).await.map($kind)
            }
        }
    )*};
}

path_ids! {
    PageId => "page_id",
    BlockId => "block_id",
    DatabaseId => "database_id",
    DataSourceId => "data_source_id",
    UserId => "user_id",
    TokenId => "token_id",
    WebhookId => "webhook_id",
    InstallationId => "installation_id",
    RunId => "run_id",
}

/// The API version a request speaks. The edge refuses `/v1` requests without a known one;
/// elsewhere a missing or unknown header means the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotionVersion {
    V2025_09_03,
    V2022_06_28,
}

impl NotionVersion {
    /// Newest first.
    pub(crate) const ALL: [NotionVersion; 2] =
        [NotionVersion::V2025_09_03, NotionVersion::V2022_06_28];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotionVersion::V2025_09_03 => "2025-09-03",
            NotionVersion::V2022_06_28 => "2022-06-28",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<NotionVersion> {
        NotionVersion::ALL
            .into_iter()
            .find(|version| version.as_str() == text)
    }

    /// The version a request's `Notion-Version` header names, if it names one we speak.
    pub(crate) fn of(headers: &HeaderMap) -> Result<NotionVersion, VersionHeader<'_>> {
        match headers.get(NOTION_VERSION_HEADER) {
            None => Err(VersionHeader::Missing),
            Some(value) => {
                let text = value.to_str().unwrap_or_default();
                NotionVersion::parse(text).ok_or(VersionHeader::Unknown(text))
            }
        }
    }
}

/// Why a request has no [`NotionVersion`].
pub(crate) enum VersionHeader<'a> {
    Missing,
    Unknown(&'a str),
}

pub(crate) const NOTION_VERSION_HEADER: &str = "notion-version";

impl<S: Send + Sync> FromRequestParts<S> for NotionVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(NotionVersion::of(&parts.headers).unwrap_or(NotionVersion::ALL[0]))
    }
}

/// A JSON object body (an empty body is `{}`), read after everything else a handler takes.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        json_body(&bytes)
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}
