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
//! A minimal HTTP/1.1 responder on tokio rather than a web framework or hyper: three GET routes,
//! one request per connection, bodies of a few KiB. Connections are bounded in number
//! ([`Limits::max_connections`]: further ones wait in the listen backlog until one ends, so a
//! burst is served late rather than refused), reading in size and time, writing in time: a
//! slow, idle or hostile client cannot hold a connection or memory for long.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
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
    let task = tokio::spawn(async move {
        loop {
            // A free slot first: until one is, further connections wait in the backlog.
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, _)) => {
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        if let Err(e) = respond(stream, &state, limits).await {
                            debug!(message = "Health/metrics request ended early.", error = %e);
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

async fn respond<R: Readiness>(
    mut stream: TcpStream,
    state: &State<R>,
    limits: Limits,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(limits.read_timeout, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/healthz") => (200, "text/plain; charset=utf-8", "ok\n".to_owned()),
        ("GET" | "HEAD", "/readyz") => match state.ready().await {
            Ok(()) => (200, "text/plain; charset=utf-8", "ready\n".to_owned()),
            Err(_) => (503, "text/plain; charset=utf-8", NOT_READY.to_owned()),
        },
        ("GET" | "HEAD", "/metrics") => (200, crate::metrics::CONTENT_TYPE, state.metrics.render()),
        ("GET" | "HEAD", _) => (
            404,
            "text/plain; charset=utf-8",
            "not found; try /healthz, /readyz or /metrics\n".to_owned(),
        ),
        _ => (405, "text/plain; charset=utf-8", "only GET\n".to_owned()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(limits.write_timeout, write).await {
        Ok(written) => written,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client did not take its response in time",
        )),
    }
}

/// Reads until the blank line ending the request head, at most [`MAX_REQUEST`] bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A minimal HTTP GET: status code and body. Used by `s3-replicator healthcheck` (the image
/// has no curl) and by the tests.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:.80}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
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
