//! Serving the router on a socket: HTTP/1.1 through hyper with bounds on what one client can
//! hold — connections, the bytes of a request head, the time to send one (which is also how
//! long an idle keep-alive connection lives) — and a graceful stop that lets requests in
//! flight finish. `axum::serve` offers none of these knobs.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use document::ErrorCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Limits of the listener, with units in their names.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Open connections at once. Past it, new connections wait in the kernel's backlog until
    /// one closes, so a flood of idle sockets cannot starve requests on open ones for longer
    /// than `header_read_timeout_ms`.
    pub connections_max: usize,
    /// Time a client has to send a request head, counted from the moment the connection is
    /// ready for one: an idle keep-alive connection is closed after it.
    pub header_read_timeout_ms: u64,
    /// Bytes hyper buffers for a request head. Heads up to this size reach the edge, which
    /// answers `414`/`431` in Notion's shape past its own, smaller limits; bigger ones get
    /// hyper's bare `431` and a closed connection.
    pub request_head_bytes_max: usize,
    /// Time requests in flight get to finish after the stop signal.
    pub shutdown_grace_ms: u64,
}

const CONNECTIONS_MAX_DEFAULT: usize = 4_096;
const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
const REQUEST_HEAD_BYTES_MAX_DEFAULT: usize = 256 * 1024;
const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 10_000;
/// The smallest head buffer hyper accepts.
const HYPER_BUFFER_BYTES_MIN: usize = 8 * 1024;

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            connections_max: CONNECTIONS_MAX_DEFAULT,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS_DEFAULT,
            request_head_bytes_max: REQUEST_HEAD_BYTES_MAX_DEFAULT,
            shutdown_grace_ms: SHUTDOWN_GRACE_MS_DEFAULT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for open requests (at
/// most `shutdown_grace_ms`). Each request carries its client's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(limits.request_head_bytes_max.max(HYPER_BUFFER_BYTES_MIN));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment instead of
                    // spinning, and keep serving the connections already open.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let graceful_watcher = graceful.watcher();
        let header_read_timeout = Duration::from_millis(limits.header_read_timeout_ms);
        tokio::spawn(async move {
            let _permit = permit;
            // hyper answers a request line longer than `http::Uri` can hold with a bare 414;
            // the first one on a connection is read here first, to answer it in Notion's shape.
            let stream = match tokio::time::timeout(header_read_timeout, first_line(stream)).await {
                Ok(Ok(FirstLine::Fits(stream))) => stream,
                Ok(Ok(FirstLine::TooLong(mut stream))) => {
                    let _ = stream.write_all(&uri_too_long_response()).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                Ok(Err(_)) | Err(_) => return,
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(IntoOk::into_ok(app.oneshot(request).await)) }
                });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = graceful_watcher.watch(connection).await {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_millis(limits.shutdown_grace_ms)) => {
            tracing::warn!("requests still open after the shutdown grace period were dropped");
        }
    }
    Ok(())
}

/// Pause after a failed `accept`.
const ACCEPT_ERROR_BACKOFF_MS: u64 = 50;

trait IntoOk<T> {
    fn into_ok(self) -> T;
}

impl<T> IntoOk<T> for Result<T, Infallible> {
    fn into_ok(self) -> T {
        match self {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }
}

/// Bytes of a first request line read before it counts as too long: the edge's URI limit plus
/// room for the method and the protocol version.
const REQUEST_LINE_BYTES_MAX: usize = crate::edge::REQUEST_URI_BYTES_MAX + REQUEST_LINE_FRAME_BYTES;
/// Room for the method, spaces and `HTTP/1.1` around the target.
const REQUEST_LINE_FRAME_BYTES: usize = 64;
/// Bytes read from the socket at a time while looking for the end of the first line.
const FIRST_LINE_READ_BYTES: usize = 8 * 1024;
/// Bytes of a refused request head read and dropped before answering, so that the client
/// reads the answer rather than a reset.
const REFUSED_HEAD_DRAIN_BYTES_MAX: usize = 1024 * 1024;

enum FirstLine {
    /// The first request line fits; hyper reads the connection from its first byte.
    Fits(Rewind),
    /// It does not; the rest of the head was read and dropped.
    TooLong(TcpStream),
}

/// Reads until the first request line ends (or is too long).
async fn first_line(mut stream: TcpStream) -> std::io::Result<FirstLine> {
    let mut buffer = Vec::with_capacity(FIRST_LINE_READ_BYTES);
    let mut chunk = [0u8; FIRST_LINE_READ_BYTES];
    loop {
        if buffer.contains(&b'\n') {
            return Ok(FirstLine::Fits(Rewind {
                prefix: buffer,
                offset: 0,
                stream,
            }));
        }
        if buffer.len() > REQUEST_LINE_BYTES_MAX {
            break;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(FirstLine::Fits(Rewind {
                prefix: buffer,
                offset: 0,
                stream,
            }));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let mut drained = buffer.len();
    let mut tail: Vec<u8> = buffer[buffer.len().saturating_sub(3)..].to_vec();
    while drained < REFUSED_HEAD_DRAIN_BYTES_MAX {
        if tail.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        drained += read;
        tail = tail[tail.len().saturating_sub(3)..].to_vec();
        tail.extend_from_slice(&chunk[..read]);
    }
    Ok(FirstLine::TooLong(stream))
}

fn uri_too_long_response() -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut body = notion_json::render::error(
        StatusCode::URI_TOO_LONG.as_u16(),
        ErrorCode::InvalidRequestUrl.as_str(),
        &format!(
            "The request URL is longer than the limit of {} bytes.",
            crate::edge::REQUEST_URI_BYTES_MAX
        ),
    );
    if let Some(object) = body.as_object_mut() {
        object.insert("request_id".into(), request_id.clone().into());
    }
    let body = body.to_string();
    format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A connection whose first bytes were already read: they are read again first.
struct Rewind {
    prefix: Vec<u8>,
    offset: usize,
    stream: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.offset < self.prefix.len() {
            let rest = &self.prefix[self.offset..];
            let take = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..take]);
            self.offset += take;
            if self.offset == self.prefix.len() {
                self.prefix = Vec::new();
                self.offset = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
