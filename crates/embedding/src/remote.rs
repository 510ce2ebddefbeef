use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    DIMENSIONS_MAX, EmbedFuture, Embedder, Error, REMOTE_TIMEOUT_MS, RESPONSE_BYTES_MAX, Result,
    check_batch, normalize_l2,
};

/// Longest excerpt of an error body kept in [`Error::RemoteStatus`], in characters.
const ERROR_BODY_EXCERPT_CHARS_MAX: usize = 200;

/// Bytes read from an error body to make the excerpt; the rest is never downloaded.
const ERROR_BODY_BYTES_MAX: usize = 4 * 1024;

/// Settings for [`OpenAiCompatible`].
///
/// The endpoint is chosen by the operator, not by users, so it may be a private address (a
/// model server next to Trellis); unlike webhooks, no address policy applies.
#[derive(Clone)]
pub struct OpenAiCompatibleConfig {
    /// Scheme, host and optional path prefix, e.g. `https://api.openai.com` or
    /// `http://127.0.0.1:11434`. Requests go to `{base_url}/v1/embeddings`; a trailing `/v1`
    /// here is accepted and not doubled.
    pub base_url: String,
    /// Sent as `"model"`, and used as this embedder's [`Embedder::model_id`].
    pub model: String,
    /// Sent as `Authorization: Bearer ...` when set.
    pub api_key: Option<String>,
    /// The vector length the model returns; any other length is an error.
    pub dimensions: usize,
    /// Wall-clock limit for one request, connect to last byte.
    pub timeout_ms: u64,
    /// Cap on the response body; a larger body is abandoned as soon as the cap is passed.
    pub response_bytes_max: usize,
}

impl OpenAiCompatibleConfig {
    /// A configuration with the default timeout and response cap, and no key.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, dimensions: usize) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            dimensions,
            timeout_ms: REMOTE_TIMEOUT_MS,
            response_bytes_max: RESPONSE_BYTES_MAX,
        }
    }
}

// Written by hand so the API key never reaches a log line.
impl fmt::Debug for OpenAiCompatibleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatibleConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("dimensions", &self.dimensions)
            .field("timeout_ms", &self.timeout_ms)
            .field("response_bytes_max", &self.response_bytes_max)
            .finish()
    }
}

/// An embedder that calls `POST {base_url}/v1/embeddings` on a server speaking OpenAI's wire
/// format (OpenAI, Ollama, vLLM, llama.cpp, text-embeddings-inference, ...).
///
/// Vectors are put back in input order by their `index`, checked for length, and normalized
/// here, because not every compatible server normalizes.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    config: OpenAiCompatibleConfig,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    index: usize,
}

impl OpenAiCompatible {
    pub fn new(config: OpenAiCompatibleConfig) -> Result<Self> {
        if config.dimensions == 0 || config.dimensions > DIMENSIONS_MAX {
            return Err(Error::InvalidConfig(format!(
                "dimensions must be between 1 and {DIMENSIONS_MAX}, not {}",
                config.dimensions
            )));
        }
        if config.model.trim().is_empty() {
            return Err(Error::InvalidConfig("the model name is empty".to_string()));
        }
        if config.timeout_ms == 0 || config.response_bytes_max == 0 {
            return Err(Error::InvalidConfig(
                "timeout_ms and response_bytes_max must be positive".to_string(),
            ));
        }
        let endpoint = endpoint_url(&config.base_url)?;

        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // A redirected POST turns into a GET elsewhere; report the 3xx instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Trellis-Embedding/1")
            .build()
            .map_err(|error| Error::InvalidConfig(format!("HTTP client: {error}")))?;
        Ok(Self {
            client,
            endpoint,
            config,
        })
    }

    /// The full URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    async fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        check_batch(texts)?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(&EmbeddingsRequest {
            model: &self.config.model,
            input: texts,
        })
        .map_err(|error| Error::Inference(format!("request encoding: {error}")))?;
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }

        let mut response = request
            .send()
            .await
            .map_err(|error| self.transport_error(&error))?;
        let status = response.status();
        if !status.is_success() {
            let body = self
                .read_body(&mut response, ERROR_BODY_BYTES_MAX, false)
                .await
                .unwrap_or_default();
            return Err(Error::RemoteStatus {
                url: self.endpoint.to_string(),
                status: status.as_u16(),
                body_excerpt: excerpt(&body),
            });
        }
        let body = self
            .read_body(&mut response, self.config.response_bytes_max, true)
            .await?;
        self.parse(&body, texts.len())
    }

    /// Reads at most `bytes_max` bytes. With `strict`, a longer body is an error; otherwise it
    /// is cut at the cap (for error excerpts, where the start is all that matters).
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        bytes_max: usize,
        strict: bool,
    ) -> Result<Vec<u8>> {
        let too_large = || Error::RemoteResponseTooLarge {
            url: self.endpoint.to_string(),
            max: bytes_max,
        };
        if strict
            && response
                .content_length()
                .is_some_and(|length| length > bytes_max as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport_error(&error))?
        {
            if body.len() + chunk.len() > bytes_max {
                if strict {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk[..bytes_max - body.len()]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn parse(&self, body: &[u8], texts: usize) -> Result<Vec<Vec<f32>>> {
        let malformed = |reason: String| Error::RemoteMalformed {
            url: self.endpoint.to_string(),
            reason,
        };
        let response: EmbeddingsResponse =
            serde_json::from_slice(body).map_err(|error| malformed(error.to_string()))?;
        if response.data.len() != texts {
            return Err(malformed(format!(
                "{} vectors for {texts} texts",
                response.data.len()
            )));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts];
        for item in response.data {
            let slot = vectors
                .get_mut(item.index)
                .ok_or_else(|| malformed(format!("index {} is out of range", item.index)))?;
            if slot.is_some() {
                return Err(malformed(format!("index {} appears twice", item.index)));
            }
            if item.embedding.len() != self.config.dimensions {
                return Err(Error::DimensionMismatch {
                    index: item.index,
                    expected: self.config.dimensions,
                    actual: item.embedding.len(),
                });
            }
            let mut vector = item.embedding;
            // JSON numbers beyond f32's range parse as infinity.
            let norm_squared: f32 = vector.iter().map(|x| x * x).sum();
            if !norm_squared.is_finite() || norm_squared == 0.0 {
                return Err(malformed(format!(
                    "vector {} is zero or not finite",
                    item.index
                )));
            }
            normalize_l2(&mut vector);
            *slot = Some(vector);
        }
        // n distinct indexes below n fill every slot, so none is left empty here.
        Ok(vectors.into_iter().flatten().collect())
    }

    fn transport_error(&self, error: &reqwest::Error) -> Error {
        let url = self.endpoint.to_string();
        if error.is_timeout() {
            Error::RemoteTimeout {
                url,
                timeout_ms: self.config.timeout_ms,
            }
        } else {
            Error::RemoteUnavailable {
                url,
                reason: error_chain(error),
            }
        }
    }
}

impl Embedder for OpenAiCompatible {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn dimensions(&self) -> usize {
        self.config.dimensions
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        Box::pin(async move { self.embed_texts(&texts).await })
    }
}

fn endpoint_url(base_url: &str) -> Result<reqwest::Url> {
    let invalid = |reason: String| Error::InvalidConfig(format!("base_url {base_url:?}: {reason}"));
    let base = reqwest::Url::parse(base_url).map_err(|error| invalid(error.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(invalid(
            "must be an http or https URL with a host".to_string(),
        ));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".to_string()));
    }
    let path = base.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path);
    let mut endpoint = base.clone();
    endpoint.set_path(&format!("{path}/v1/embeddings"));
    Ok(endpoint)
}

/// The start of an error body on one line, for a log message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = one_line
        .chars()
        .take(ERROR_BODY_EXCERPT_CHARS_MAX)
        .collect();
    if one_line.chars().count() > ERROR_BODY_EXCERPT_CHARS_MAX {
        excerpt.push('…');
    }
    if excerpt.is_empty() {
        excerpt.push_str("(empty body)");
    }
    excerpt
}

/// reqwest's top-level message is generic ("error sending request"); the cause is in the chain.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
