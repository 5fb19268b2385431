//! The health and metrics server under clients that misbehave: idle connections beyond the
//! cap, a request head that never ends, a client that never takes its response, and a
//! readiness failure whose details must not reach the body. Small limits keep the waits short;
//! every wait has an outer bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use s3_replicator::server::{get, start_with_limits, Limits, Readiness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

struct Ready;

impl Readiness for Ready {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Fails the way an SDK error does: with an account ID and a role ARN in its text.
struct Denied;

const DETAIL: &str = "AccessDenied: User: arn:aws:sts::111111111111:assumed-role/replicator-task/abc is not authorized to perform: sqs:getqueueattributes";

impl Readiness for Denied {
    async fn check(&self) -> Result<(), String> {
        Err(format!(
            "the queue did not answer GetQueueAttributes: {DETAIL}"
        ))
    }
}

fn limits(max_connections: usize) -> Limits {
    Limits {
        max_connections,
        read_timeout: Duration::from_millis(1_500),
        write_timeout: Duration::from_millis(500),
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_idle_ones_are_cut() {
    let server = start_with_limits(local(), Ready, Default::default(), limits(4))
        .await
        .unwrap();
    let addr = server.local_addr();
    // Four clients connect and say nothing: every slot is taken.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), get(addr, "/healthz"))
        .await
        .expect("answered once the idle connections were cut")
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(answer.0, 200);
    assert!(
        waited >= Duration::from_millis(1_000),
        "answered after {waited:?}: a fifth connection was served while four held every slot"
    );
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}: idle connections are cut at the read timeout"
    );
    // The idle clients were cut: they read the end of the stream.
    for mut stream in idle {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an idle connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_request_is_cut_at_the_read_timeout() {
    let server = start_with_limits(local(), Ready, Default::default(), limits(4))
        .await
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header line every 100 ms, never the blank line: the connection is never idle, but
    // the request head is never complete either.
    let started = Instant::now();
    let cut = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = stream.write_all(b"X-Slow: 1\r\n").await {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still sending after {:?}: the read timeout bounds the whole request head",
            started.elapsed()
        );
    };
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_000),
        "cut after {waited:?}, before the read timeout: {cut}"
    );
}

#[tokio::test]
async fn a_client_that_never_takes_its_response_is_cut_at_the_write_timeout() {
    // A /metrics page of several MiB: far more than the sockets' buffers hold.
    let metrics = std::sync::Arc::new(s3_replicator::metrics::Metrics::new());
    for i in 0..60_000 {
        metrics.record_aws_request(
            "S3",
            &format!("SomeLongOperationNameThatMakesTheMetricsPageLarge{i:08}"),
        );
    }
    let server = start_with_limits(local(), Ready, metrics, limits(4))
        .await
        .unwrap();
    let addr = server.local_addr();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4 * 1024).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The client takes nothing for well past the write timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server ended the connection");
    let text = String::from_utf8_lossy(&response);
    let announced: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a response head with Content-Length");
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    assert!(
        announced > 4 * 1024 * 1024,
        "the page is large enough: {announced} B"
    );
    assert!(
        body < announced,
        "the whole {announced} B arrived although the client took nothing for 2 s: the server waited for it"
    );
}

#[tokio::test]
async fn readiness_failures_answer_a_generic_reason_and_keep_the_details_out() {
    let server = start_with_limits(local(), Denied, Default::default(), limits(4))
        .await
        .unwrap();
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(10), get(server.local_addr(), "/readyz"))
            .await
            .expect("answered")
            .unwrap();
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "not ready: queue unreachable (GetQueueAttributes failed; the reason is in the log)\n"
    );
    assert!(
        !body.contains("111111111111") && !body.contains("arn:"),
        "{body}"
    );
}
