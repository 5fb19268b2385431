//! A fault-injecting TCP proxy between the daemon and the emulator, on 127.0.0.1.
//!
//! Every connection is either forwarded untouched, reset, answered with an HTTP error without
//! reaching the emulator, or accepted and never answered (a stalled request). The emulator closes every connection after one response
//! (moto sends `Connection: close`), so a fault per connection is a fault per request.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const FORWARD: u8 = 0;
const OUTAGE: u8 = 1;
const FLAKY: u8 = 2;
const STALL: u8 = 3;

/// What the proxy does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Forward,
    /// Reset every connection: AWS is unreachable.
    Outage,
    /// Fault about one request in ten: 503 SlowDown, 500, or a reset, in turn.
    Flaky,
    /// Accept every connection, read what the client sends, never answer: a request that
    /// stalls before its response. The connection stays open until the client gives up.
    Stall,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub forwarded: AtomicU64,
    pub reset: AtomicU64,
    pub slow_down: AtomicU64,
    pub internal_error: AtomicU64,
    pub stalled: AtomicU64,
}

pub struct FaultProxy {
    pub url: String,
    mode: Arc<AtomicU8>,
    pub stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn({
            let mode = Arc::clone(&mode);
            let stats = Arc::clone(&stats);
            async move {
                let mut sequence: u64 = 0;
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    sequence += 1;
                    let fault = match mode.load(Ordering::SeqCst) {
                        OUTAGE => Some(Fault::Reset),
                        STALL => Some(Fault::Stall),
                        // Deterministic: every tenth connection, cycling through the faults.
                        FLAKY if sequence.is_multiple_of(10) => Some(match (sequence / 10) % 3 {
                            0 => Fault::SlowDown,
                            1 => Fault::InternalError,
                            _ => Fault::Reset,
                        }),
                        _ => None,
                    };
                    tokio::spawn(serve(client, upstream.clone(), fault, Arc::clone(&stats)));
                }
            }
        });
        Self {
            url,
            mode,
            stats,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        let value = match mode {
            Mode::Forward => FORWARD,
            Mode::Outage => OUTAGE,
            Mode::Flaky => FLAKY,
            Mode::Stall => STALL,
        };
        self.mode.store(value, Ordering::SeqCst);
    }

    pub fn faults(&self) -> u64 {
        self.stats.reset.load(Ordering::Relaxed)
            + self.stats.slow_down.load(Ordering::Relaxed)
            + self.stats.internal_error.load(Ordering::Relaxed)
            + self.stats.stalled.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Reset,
    Stall,
    SlowDown,
    InternalError,
}

async fn serve(mut client: TcpStream, upstream: String, fault: Option<Fault>, stats: Arc<Stats>) {
    match fault {
        None => {
            stats.forwarded.fetch_add(1, Ordering::Relaxed);
            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Some(Fault::Stall) => {
            stats.stalled.fetch_add(1, Ordering::Relaxed);
            // Take whatever the client sends, answer nothing, until it closes the connection.
            let mut sink = [0u8; 16 * 1024];
            while let Ok(n) = client.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
        Some(Fault::Reset) => {
            stats.reset.fetch_add(1, Ordering::Relaxed);
            // Linger 0: closing sends a RST, as a dropped connection would.
            let _ = client.set_zero_linger();
            drop(client);
        }
        Some(fault) => {
            let (status, code, message) = match fault {
                Fault::SlowDown => {
                    stats.slow_down.fetch_add(1, Ordering::Relaxed);
                    (
                        "503 Slow Down",
                        "SlowDown",
                        "Please reduce your request rate.",
                    )
                }
                _ => {
                    stats.internal_error.fetch_add(1, Ordering::Relaxed);
                    (
                        "500 Internal Server Error",
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    )
                }
            };
            read_request(&mut client).await;
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            );
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(response.as_bytes()).await;
            let _ = client.shutdown().await;
        }
    }
}

/// Reads the request head and as much of its body as `Content-Length` announces (bounded), so
/// that the answer is read by the client as a response, not cut off by a reset.
async fn read_request(client: &mut TcpStream) {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let read = tokio::time::timeout_at(deadline, client.read(&mut chunk)).await;
        let Ok(Ok(n)) = read else { return };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length.min(16 * 1024 * 1024) {
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
