//! Helpers for the operations tests: scraping the metrics page, reading one series.

use std::net::SocketAddr;

/// GET `path` from the health/metrics server; panics on a transport error.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    s3_replicator::server::get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// The value of one series (`name{labels}` exactly as rendered) on a metrics page; 0 when the
/// series is not there yet (counters appear on their first increment).
pub fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}

/// A 127.0.0.1 port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
