//! The router served on a loopback socket by `http_api::serve`: what only a real connection
//! shows (a 100 KB URL, a 10 MB body still being sent, an idle socket, a stop signal).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Harness;

struct Served {
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(h: &Harness, limits: http_api::ServeLimits) -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http_api::serve(
            listener,
            h.router.clone(),
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        Served {
            address,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Reads one response (status line, headers, and a `Content-Length` body).
async fn read_response(stream: &mut TcpStream) -> (u16, String, serde_json::Value) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("a response in time")
            .expect("the connection was not reset");
        assert!(read > 0, "the server closed without answering");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0);
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = serde_json::from_slice(&buffer[head_end..head_end + length])
        .unwrap_or(serde_json::Value::Null);
    (status, head, body)
}

#[tokio::test]
async fn oversized_requests_get_notion_errors_over_a_real_connection() {
    let h = Harness::new().await;
    let served = Served::start(&h, http_api::ServeLimits::default()).await;

    // A 100 KB URL.
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    let request = format!(
        "GET /v1/users/{} HTTP/1.1\r\nHost: localhost\r\nNotion-Version: 2025-09-03\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, head, body) = read_response(&mut stream).await;
    assert_eq!(status, 414, "{head}");
    assert_eq!(body["object"], "error", "{head}");
    assert_eq!(body["code"], "invalid_request_url");
    assert!(head.to_ascii_lowercase().contains("x-request-id"), "{head}");

    // A 10 MB body, declared and sent in full while the server answers.
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    let length = 10 * 1024 * 1024;
    let head_text = format!(
        "POST /v1/search HTTP/1.1\r\nHost: localhost\r\nNotion-Version: 2025-09-03\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        h.ada
    );
    stream.write_all(head_text.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < length {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        // Kept open: a client that half-closes is taken (by hyper) to have gone away.
        writer
    });
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("an answer, not a reset");
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if String::from_utf8_lossy(&buffer).contains("\"object\":\"error\"") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buffer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"code\":\"validation_error\""), "{text}");
    drop(sender.await);
    served.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_health_stays_up() {
    let h = Harness::new().await;
    let served = Served::start(
        &h,
        http_api::ServeLimits {
            connections_max: 8,
            header_read_timeout_ms: 300,
            ..Default::default()
        },
    )
    .await;
    // Fill every connection slot with sockets that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(served.address).await.unwrap());
    }
    // Each is closed once its header time is up, so a real request gets through.
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = read_response(&mut stream).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(body["status"], "ok");
    for mut socket in idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut byte))
            .await
            .expect("the idle socket is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    served.stop().await;
}
