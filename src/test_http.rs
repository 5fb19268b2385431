//! A canned HTTP server on 127.0.0.1 for the adapters' unit tests: it answers every request with
//! the same bytes, as a store that is S3-compatible in name only might, and reports each
//! request's line and `Host` header (`"HEAD /bucket/key HTTP/1.1 @ localhost:PORT"`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// `404 Not Found` without a body.
pub const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Listens on 127.0.0.1 and answers every request with `response`; returns the port and the
/// requests seen.
pub async fn answering(response: &'static [u8]) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let line = head.lines().next().unwrap_or_default();
            let host = head
                .lines()
                .find_map(|l| l.strip_prefix("host: ").or(l.strip_prefix("Host: ")))
                .unwrap_or_default();
            let _ = tx.send(format!("{line} @ {host}"));
            let _ = stream.write_all(response).await;
        }
    });
    (port, rx)
}
