//! Connections: accepting them within bounds and closing the ones that hold resources without
//! using them. A client that opens sockets and sends nothing, sends its headers a byte at a time,
//! or keeps connections idle, must not be able to exhaust the file descriptors or the answer
//! slots that real customers need.
//!
//! - **A cap on connections**, in all (`server.max_connections`) and per client address
//!   (`server.max_connections_per_client`; a trusted proxy is exempt, since every customer
//!   behind it shares its address). A connection beyond a cap is closed as soon as it is
//!   accepted, so it is never left waiting in the kernel's queue either.
//! - **A header deadline** (`server.header_timeout_secs`): hyper's HTTP/1 header-read timeout.
//!   In hyper 1.x it starts when the connection is opened and again whenever a kept-alive
//!   connection waits for its next request, so it is also the idle timeout; it is not running
//!   while a response streams (the widget's live events are not cut).
//! - **A body deadline** and the answer slot taken only once the body has arrived: see
//!   [`buffer_body`], layered in front of `/v1/answer`'s concurrency limit.
//!
//! Only HTTP/1.1 is served: the widget, the desk and reverse proxies speak it, and hyper's
//! HTTP/2 server has no header deadline.
//!
//! This module does not route or answer anything; it only carries requests to the router.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use parking_lot::Mutex;
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

use super::ApiError;
use crate::config::{Network, ServerConfig};

/// How long a shutdown waits for open connections (a live event stream never ends by itself).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The bounds [`serve`] holds connections to (from `server.*`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_client: usize,
    pub header_timeout: Duration,
    pub trusted_proxies: Vec<Network>,
}

impl ConnectionLimits {
    pub fn from_config(cfg: &ServerConfig) -> Self {
        Self {
            max_connections: cfg.max_connections.max(1),
            max_per_client: cfg.max_connections_per_client.max(1),
            header_timeout: Duration::from_secs(cfg.header_timeout_secs.max(1)),
            trusted_proxies: cfg.trusted_proxies.clone(),
        }
    }
}

/// Open connections per client address. A [`ClientSlot`] gives its place back when dropped.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(table: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut map = table.0.lock();
        let n = map.entry(ip).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.table.0.lock();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Logs a refusal at most every few seconds: under a flood, one line per connection would be
/// the flood's amplifier.
struct Quiet(Mutex<Option<Instant>>);

impl Quiet {
    fn warn(&self, what: &str, peer: SocketAddr) {
        let mut last = self.0.lock();
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            *last = Some(Instant::now());
            tracing::warn!(%peer, "connection closed at once: {what} (further refusals in the next 5 s are not logged)");
        }
    }
}

/// Accepts connections on `listener` and serves `router` on each until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    let quiet = Quiet(Mutex::new(None));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before it was accepted):
                    // wait a moment rather than spin; the caps make this rare.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            quiet.warn("server.max_connections reached", peer);
            continue;
        };
        let ip = peer.ip().to_canonical();
        let slot = if limits.trusted_proxies.iter().any(|n| n.contains(ip)) {
            None
        } else {
            match PerClient::take(&per_client, ip, limits.max_per_client) {
                Some(s) => Some(s),
                None => {
                    quiet.warn("server.max_connections_per_client reached", peer);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a header timeout): nothing to report.
            let _ = connection.await;
            drop((permit, slot));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::info!("shutdown: connections still open after {SHUTDOWN_GRACE:?} are closed"),
    }
    Ok(())
}

/// What [`buffer_body`] needs: the body's size limit and deadline.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Reads the whole request body, within `timeout` and `max_bytes`, before the request goes on.
/// In front of a concurrency limit this means a slot is taken only by a request that has fully
/// arrived: a client that announces a body and sends it slowly (or never) holds a connection,
/// not an answer slot, and is cut off at the deadline with 408.
pub async fn buffer_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes)).await {
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                limits.timeout.as_secs()
            ),
        )
        .into_response(),
        Ok(Err(e)) if is_length_limit(&e) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {} bytes", limits.max_bytes),
        )
        .into_response(),
        Ok(Err(e)) => ApiError::bad_request(
            "invalid_body",
            format!("the request body could not be read: {e}"),
        )
        .into_response(),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}
