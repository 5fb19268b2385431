//! The health and metrics endpoint: `/healthz`, `/readyz`, `/metrics` on `server.listen`.
//!
//! - `/healthz` — 200 while the process runs and its runtime answers. ECS's container health
//!   check uses it (through `s3-replicator healthcheck`, as the image has no shell or curl).
//! - `/readyz` — 200 when the queue answers `GetQueueAttributes` with the daemon's credentials:
//!   the queue exists, is reachable, and the credentials are valid and allowed. 503 otherwise,
//!   with a generic reason (`not ready: queue unreachable (GetQueueAttributes failed; …)`); the details (the SDK's error text,
//!   which can name account IDs and role ARNs) go to the log only. Deliberately not the
//!   container health check: a queue or IAM outage would make ECS replace every task at once,
//!   which fixes nothing.
//! - `/metrics` — [`Metrics::render`], the OpenMetrics text format.
//!
//! HTTP/1.1 through hyper's server connection, one request per connection (keep-alive off),
//! bodies of a few KiB. Connections are bounded in number ([`Limits::max_connections`]:
//! further ones wait in the listen backlog until one ends, so a burst is served late rather
//! than refused), reading in size ([`MAX_REQUEST`]) and time (hyper's header read timeout),
//! writing in time ([`WriteDeadline`]: hyper has no write timeout): a slow, idle or hostile
//! client cannot hold a connection or memory for long.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Sleep;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::metrics::Metrics;

/// Largest request head read; the three routes need only the request line.
const MAX_REQUEST: usize = 8 * 1024;
/// The `/readyz` body when the queue check fails: nothing of the error itself.
const NOT_READY: &str =
    "not ready: queue unreachable (GetQueueAttributes failed; the reason is in the log)\n";

/// Bounds on the connections of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send its request.
    pub read_timeout: Duration,
    /// How long a client may take to take its response.
    pub write_timeout: Duration,
}

impl Default for Limits {
    /// 64 connections, 5 s to send the request, 10 s to take the response.
    fn default() -> Self {
        Self {
            max_connections: 64,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}
/// How long the readiness probe waits for SQS (the SDK's retries included).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a readiness answer is reused: scrapers and load balancers may ask every second,
/// and each answer would otherwise cost an SQS request.
const PROBE_CACHE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("server.listen {listen:?} is not an IP:PORT address: {source}")]
    Address {
        listen: String,
        source: std::net::AddrParseError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Answers whether the daemon can work: see the module documentation.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready, else why not (a sentence for the log; `/readyz` answers generically).
    fn check(&self) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Readiness from the SQS queue of the configuration.
#[derive(Debug, Clone)]
pub struct QueueReadiness {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueueReadiness {
    /// Readiness from `queue_url`, asked with `client` (the daemon's: same region, endpoint,
    /// credentials chain; see [`crate::wiring::Wiring::readiness`]).
    pub fn new(client: aws_sdk_sqs::Client, queue_url: &str) -> Self {
        Self {
            client,
            queue_url: queue_url.to_owned(),
        }
    }
}

impl Readiness for QueueReadiness {
    async fn check(&self) -> Result<(), String> {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send();
        match tokio::time::timeout(PROBE_TIMEOUT, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "the queue did not answer GetQueueAttributes: {}",
                crate::aws::SdkFailure::from_sdk(&e).message
            )),
            Err(_) => Err(format!(
                "the queue did not answer GetQueueAttributes within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// A running server: its address, and the task serving it (aborted on drop).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `server.listen` and serves `readiness` and `metrics`.
pub async fn start<R: Readiness>(
    config: &Config,
    readiness: R,
    metrics: Arc<Metrics>,
) -> Result<Server, ServerError> {
    let addr: SocketAddr = config
        .server
        .listen
        .parse()
        .map_err(|source| ServerError::Address {
            listen: config.server.listen.clone(),
            source,
        })?;
    start_with(addr, readiness, metrics).await
}

/// Binds `addr` and serves with any readiness check, within the default [`Limits`].
pub async fn start_with<R: Readiness>(
    addr: SocketAddr,
    readiness: R,
    metrics: Arc<Metrics>,
) -> Result<Server, ServerError> {
    start_with_limits(addr, readiness, metrics, Limits::default()).await
}

/// Binds `addr` and serves with any readiness check, within `limits`.
pub async fn start_with_limits<R: Readiness>(
    addr: SocketAddr,
    readiness: R,
    metrics: Arc<Metrics>,
    limits: Limits,
) -> Result<Server, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    info!(message = "Health and metrics server listening.", %addr);
    let state = Arc::new(State {
        readiness,
        metrics,
        cached: Mutex::new(None),
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_header_size(MAX_REQUEST)
        .keep_alive(false)
        // The response head as before: `Content-Type`, `Content-Length`, `Connection`, no `Date`.
        .title_case_headers(true)
        .auto_date_header(false);
    let task = tokio::spawn(async move {
        loop {
            // A free slot first: until one is, further connections wait in the backlog.
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, _)) => {
                    let state = Arc::clone(&state);
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(respond(&state, &request).await) }
                    });
                    let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
                    let connection = http.serve_connection(io, service);
                    tokio::spawn(async move {
                        match connection.await {
                            // A client that sent no complete request in time is simply cut.
                            Err(e) if !e.is_timeout() => {
                                debug!(message = "Health/metrics request ended early.", error = %e);
                            }
                            _ => {}
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    drop(slot);
                    // Out of file descriptors and the like: pause rather than spin.
                    warn!(message = "Accepting a health/metrics connection failed.", error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(Server { addr, task })
}

struct State<R> {
    readiness: R,
    metrics: Arc<Metrics>,
    cached: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl<R: Readiness> State<R> {
    async fn ready(&self) -> Result<(), String> {
        // Holding the lock across the probe also collapses concurrent probes into one.
        let mut cached = self.cached.lock().await;
        if let Some((at, answer)) = cached.as_ref() {
            if at.elapsed() < PROBE_CACHE {
                return answer.clone();
            }
        }
        let answer = self.readiness.check().await;
        if let Err(why) = &answer {
            // The details stay in the log: the body of /readyz is generic.
            warn!(message = "Not ready.", reason = %why);
        }
        *cached = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// The answer to one request (hyper leaves the body out for `HEAD`).
async fn respond<R: Readiness, B>(state: &State<R>, request: &Request<B>) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let get = matches!(*request.method(), Method::GET | Method::HEAD);
    let (status, content_type, body) = match (get, request.uri().path()) {
        (false, _) => (
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET\n".to_owned(),
        ),
        (true, "/healthz") => (StatusCode::OK, TEXT, "ok\n".to_owned()),
        (true, "/readyz") => match state.ready().await {
            Ok(()) => (StatusCode::OK, TEXT, "ready\n".to_owned()),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, NOT_READY.to_owned()),
        },
        (true, "/metrics") => (
            StatusCode::OK,
            crate::metrics::CONTENT_TYPE,
            state.metrics.render(),
        ),
        (true, _) => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /healthz, /readyz or /metrics\n".to_owned(),
        ),
    };
    let length = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The socket of one connection with a deadline on writing: from the first byte of its response,
/// a client has `limit` to take all of it (hyper's server has a header read timeout only).
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            deadline: None,
        }
    }

    /// Runs one write step: the deadline starts with the first, and a step still waiting for
    /// the client once it has passed fails.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        step: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match step(Pin::new(&mut self.stream), cx) {
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not take its response in time",
                )))
            }
            other => other,
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_shutdown(cx))
    }
}

/// A minimal HTTP GET: status code and body. Used by `s3-replicator healthcheck` (the image
/// has no curl) and by the tests.
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let exchange = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    // The connection does the reading and writing; it ends with the response (`close`).
    let (answer, _) = tokio::join!(exchange, connection);
    answer.map_err(io::Error::other)
}

/// The address a local health check should connect to for `listen`: an unspecified IP
/// (`0.0.0.0`, `::`) becomes loopback.
pub fn local_probe_addr(listen: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = listen.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Ready;

    impl Readiness for Ready {
        async fn check(&self) -> Result<(), String> {
            Ok(())
        }
    }

    /// Sends `request` as is and reads the whole answer.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn answers_keep_their_exact_form() {
        let server = start_with(([127, 0, 0, 1], 0).into(), Ready, Default::default())
            .await
            .unwrap();
        let addr = server.local_addr();
        let text = "Content-Type: text/plain; charset=utf-8";
        assert_eq!(
            exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await,
            format!(
                "HTTP/1.1 200 OK\r\n{text}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
            )
        );
        // HEAD: the head GET would have, no body.
        assert_eq!(
            exchange(addr, b"HEAD /readyz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").await,
            format!("HTTP/1.1 200 OK\r\n{text}\r\nContent-Length: 6\r\nConnection: close\r\n\r\n")
        );
        assert_eq!(
            exchange(addr, b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await,
            format!("HTTP/1.1 405 Method Not Allowed\r\n{text}\r\nContent-Length: 9\r\nConnection: close\r\n\r\nonly GET\n")
        );
        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let metrics = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            metrics.starts_with(&format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\n",
                crate::metrics::CONTENT_TYPE
            )),
            "{metrics}"
        );
        // One request per connection: a second, pipelined request is not answered.
        let two = exchange(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 1, "{two}");
    }

    #[tokio::test]
    async fn a_request_head_over_the_size_limit_is_refused() {
        let server = start_with(([127, 0, 0, 1], 0).into(), Ready, Default::default())
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
        request.extend(format!("X-Filler: {}\r\n\r\n", "a".repeat(MAX_REQUEST)).bytes());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The server may close while the rest is still being sent.
        let _ = stream.write_all(&request).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 431 "),
            "a head of more than {MAX_REQUEST} B was read: {answer}"
        );
        // A head within the limit is served.
        let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
        request.extend(format!("X-Filler: {}\r\n\r\n", "a".repeat(MAX_REQUEST / 2)).bytes());
        assert!(exchange(addr, &request)
            .await
            .starts_with("HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn probe_address_replaces_unspecified_ips() {
        assert_eq!(
            local_probe_addr("0.0.0.0:9090"),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(local_probe_addr("[::]:1"), Some("[::1]:1".parse().unwrap()));
        assert_eq!(
            local_probe_addr("10.1.2.3:80"),
            Some("10.1.2.3:80".parse().unwrap())
        );
        assert_eq!(local_probe_addr("nope"), None);
    }
}
