//! Write a Trellis integration in a few lines.
//!
//! ```ignore
//! use trellis_sdk::{Event, Output, log};
//!
//! fn handle(event: Event) -> Result<Output, String> {
//!     let input = event.input_json()?;
//!     log::info("invoked", &[]);
//!     Ok(Output::json(&input))
//! }
//!
//! trellis_sdk::export!(handle);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file is the component.
//! Every host call returns `Result<_, Error>`, and `Error` converts into `String`, so `?` works in a
//! handler. See `docs/integrations.md` in the Trellis repository for the contract.

// The generated code names this crate by its public path, so that the export macro works in the
// integration's crate too.
extern crate self as trellis_sdk;

/// The raw bindings generated from `wit/world.wit` (with `wasi:http` and what it uses from
/// `wit/deps`).
// The generated export glue takes the flattened event as arguments.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "trellis:integration/integration",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "trellis_sdk::bindings",
        runtime_path: "trellis_sdk::__wit_bindgen::rt",
        // `wasi:http` and the `wasi:io` and `wasi:clocks` interfaces it uses are generated here
        // too, from the copies in `wit/deps` that the host implements.
        generate_all,
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::trellis::integration::events::{
    ChangeEvent, Event, InvokeEvent, InvokeSource, Output, ScheduleEvent, WebhookRequest,
    WebhookResponse,
};
pub use bindings::trellis::integration::types::Error;
pub use bindings::trellis::integration::{kv, models, secrets, vector_search, workspace};
/// The raw `wasi:http`, `wasi:io` and `wasi:clocks` bindings, for streaming; [`http::send`] is
/// the short way.
pub use bindings::wasi;
pub use serde_json;

impl Error {
    /// The error's code as the WIT spells it, e.g. `not-found`.
    pub fn code(&self) -> &'static str {
        self.parts().0
    }

    /// The host's message.
    pub fn message(&self) -> &str {
        self.parts().1
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Error::NotFound(message) => ("not-found", message),
            Error::InvalidInput(message) => ("invalid-input", message),
            Error::Forbidden(message) => ("forbidden", message),
            Error::LimitExceeded(message) => ("limit-exceeded", message),
            Error::NotAvailable(message) => ("not-available", message),
            Error::Internal(message) => ("internal", message),
        }
    }
}

/// Lets a handler use `?` on host calls: the error becomes the run's error message.
impl From<Error> for String {
    fn from(error: Error) -> String {
        format!("{}: {}", error.code(), error.message())
    }
}

impl Event {
    /// The JSON input of an `invoke` event; `null` for other events.
    pub fn input_json(&self) -> Result<serde_json::Value, String> {
        match self {
            Event::Invoke(invoke) => serde_json::from_str(&invoke.input)
                .map_err(|error| format!("input is not JSON: {error}")),
            _ => Ok(serde_json::Value::Null),
        }
    }
}

impl Output {
    /// A JSON result for the caller of an `invoke`.
    pub fn json(value: &serde_json::Value) -> Output {
        Output::Json(value.to_string())
    }
}

/// Structured logs kept with the run record.
pub mod log {
    use crate::bindings::trellis::integration::log::{Level, write};

    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Debug, message, fields);
    }

    pub fn info(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Info, message, fields);
    }

    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Warn, message, fields);
    }

    pub fn error(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Error, message, fields);
    }

    fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        write(level, message, &fields);
    }
}

/// Exports `handler`, a `fn(Event) -> Result<Output, String>`, as the integration's entry point.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        struct __TrellisIntegration;

        impl $crate::bindings::Guest for __TrellisIntegration {
            fn handle(event: $crate::Event) -> ::core::result::Result<$crate::Output, String> {
                $handler(event)
            }
        }

        $crate::bindings::__export_bindings!(__TrellisIntegration with_types_in $crate::bindings);
    };
}

/// Outbound HTTP over `wasi:http/outgoing-handler`, one blocking call per request.
///
/// ```ignore
/// let response = trellis_sdk::http::send(&http::Request::get("https://api.example.com/v1/items"))?;
/// ```
///
/// The host sends only to origins the manifest declares and the workspace admin approved, never
/// to a non-public address, never follows a redirect, caps both bodies and the requests of a
/// run. Its refusals come back as `wasi:http` error codes, which [`send`] maps to [`Error`]:
/// `forbidden` (`HTTP-request-denied`, `destination-IP-prohibited`), `limit-exceeded`
/// (`connection-limit-reached`, `HTTP-request-body-size`, `HTTP-response-body-size`),
/// `invalid-input` for a malformed request, `internal` for the network or the server. The reason
/// for a refusal is in the run record.
pub mod http {
    use crate::Error;
    use crate::bindings::wasi::http::outgoing_handler;
    use crate::bindings::wasi::http::types::{
        self, ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest,
        Scheme,
    };
    use crate::bindings::wasi::io::streams::StreamError;

    /// The most bytes `wasi:io` takes in one blocking write.
    const WRITE_BYTES_MAX: usize = 4096;
    /// Bytes asked for per read of the response body.
    const READ_BYTES: u64 = 64 << 10;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Method {
        Get,
        Head,
        Post,
        Put,
        Patch,
        Delete,
        Options,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Request {
        pub method: Method,
        /// An absolute `http` or `https` URL.
        pub url: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Request {
        /// A `GET` with no headers.
        pub fn get(url: &str) -> Request {
            Request {
                method: Method::Get,
                url: url.to_string(),
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Response {
        pub status: u16,
        /// Header names are lower-case.
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    /// Sends `request` and waits for the whole response.
    pub fn send(request: &Request) -> Result<Response, Error> {
        let (scheme, authority, path_with_query) = split_url(&request.url)?;
        let entries: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
            .collect();
        let headers = Fields::from_list(&entries)
            .map_err(|error| Error::InvalidInput(format!("headers: {error:?}")))?;
        let outgoing = OutgoingRequest::new(headers);
        let method = match request.method {
            Method::Get => WasiMethod::Get,
            Method::Head => WasiMethod::Head,
            Method::Post => WasiMethod::Post,
            Method::Put => WasiMethod::Put,
            Method::Patch => WasiMethod::Patch,
            Method::Delete => WasiMethod::Delete,
            Method::Options => WasiMethod::Options,
        };
        let invalid = |what: &str| Error::InvalidInput(format!("url: the {what} is not valid"));
        outgoing
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(authority))
            .map_err(|()| invalid("host"))?;
        outgoing
            .set_path_with_query(Some(path_with_query.as_str()))
            .map_err(|()| invalid("path"))?;
        let body = outgoing
            .body()
            .map_err(|()| Error::Internal("the request body was taken".into()))?;
        // Hand the request over first: the host reads the body as it is written.
        let future = outgoing_handler::handle(outgoing, None).map_err(from_code)?;
        let written = write_body(body, &request.body);
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(code)),
            Some(Err(())) | None => return Err(Error::Internal("no response came back".into())),
        };
        // A body the host refused shows up in the response's error code above; any other
        // failure to write it is reported here.
        written?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| Error::Internal("the response body was taken".into()))?;
        let body = read_body(incoming)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// `(scheme, authority, path and query)` of an absolute URL; the fragment is dropped.
    fn split_url(url: &str) -> Result<(Scheme, &str, String), Error> {
        let invalid =
            || Error::InvalidInput(format!("url {url:?} is not an absolute http or https URL"));
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(invalid()),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid());
        }
        let tail = tail.split('#').next().unwrap_or_default();
        let path_with_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Ok((scheme, authority, path_with_query))
    }

    fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
        {
            let stream = body
                .write()
                .map_err(|()| Error::Internal("the request body stream was taken".into()))?;
            for chunk in bytes.chunks(WRITE_BYTES_MAX) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|error| from_stream_error(error, "writing the request body"))?;
            }
            // The stream is a child of the body: it goes before the body is finished.
        }
        OutgoingBody::finish(body, None).map_err(from_code)
    }

    fn read_body(incoming: IncomingBody) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| Error::Internal("the response body stream was taken".into()))?;
            loop {
                match stream.blocking_read(READ_BYTES) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(error) => {
                        return Err(from_stream_error(error, "reading the response body"));
                    }
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(body)
    }

    fn from_stream_error(error: StreamError, doing: &str) -> Error {
        match error {
            StreamError::Closed => Error::Internal(format!("{doing}: the stream closed")),
            StreamError::LastOperationFailed(io_error) => match types::http_error_code(&io_error) {
                Some(code) => from_code(code),
                None => {
                    // wasmtime-wasi-http 48 passes a body's failure as an I/O error without an
                    // error code; its text still names the cap.
                    let text = io_error.to_debug_string();
                    let lower = text.to_ascii_lowercase();
                    if lower.contains("body size") || lower.contains("bodysize") {
                        Error::LimitExceeded(format!("{doing}: {text}"))
                    } else {
                        Error::Internal(format!("{doing}: {text}"))
                    }
                }
            },
        }
    }

    /// The `wasi:http` error code as the SDK's error, its WIT name first.
    fn from_code(code: ErrorCode) -> Error {
        match code {
            ErrorCode::HttpRequestDenied => Error::Forbidden(
                "HTTP-request-denied: the origin is not approved for this installation".into(),
            ),
            ErrorCode::DestinationIpProhibited => Error::Forbidden(
                "destination-IP-prohibited: the host's address is not public".into(),
            ),
            ErrorCode::ConnectionLimitReached => Error::LimitExceeded(
                "connection-limit-reached: the run sent as many requests as it may".into(),
            ),
            ErrorCode::HttpRequestBodySize(limit) => Error::LimitExceeded(format!(
                "HTTP-request-body-size: the request body is over the limit{}",
                bytes(limit)
            )),
            ErrorCode::HttpResponseBodySize(limit) => Error::LimitExceeded(format!(
                "HTTP-response-body-size: the response body is over the limit{}",
                bytes(limit)
            )),
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
                Error::InvalidInput(format!("{code:?}"))
            }
            other => Error::Internal(format!("the request failed: {other:?}")),
        }
    }

    fn bytes(limit: Option<u64>) -> String {
        limit
            .map(|limit| format!(" of {limit} bytes"))
            .unwrap_or_default()
    }
}
