//! The accept loop: the connection limit, eviction, shedding and the header timeout (the body
//! timeout is [`crate::read_body`]'s).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::Limits;

/// The body of the answer to a connection over the limit when none can be evicted: the error
/// shape of both servers (`kind` for aha's clients, `type` for OpenAI clients).
const BUSY_BODY: &str = "{\"error\":{\"kind\":\"overloaded\",\"type\":\"server_error\",\
\"message\":\"too many connections, all busy; retry later\"}}";

/// The whole answer to a connection over the limit: 503, retry after a second, close.
fn busy_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    )
    .into_bytes()
}

/// Phases of a connection (`Slot::phase`).
const WAITING: u8 = 0;
const READING_BODY: u8 = 1;
const WORKING: u8 = 2;

/// State of one open connection, shared between the accept loop and the request path.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Waiting for a request head, reading a body, or working on a request.
    phase: AtomicU8,
    /// When the current phase started (ms since the server started).
    since_ms: AtomicU64,
    /// Whether a request has been answered on this connection.
    served: AtomicBool,
    evict: Notify,
}

impl Slot {
    fn enter(&self, phase: u8, clock: &Clock) {
        self.since_ms.store(clock.now_ms(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
    }

    /// The body has been read: the connection is not evicted until its answer is ready.
    pub(crate) fn working(&self, clock: &Clock) {
        self.enter(WORKING, clock);
    }

    /// Eviction order, lowest first; `None` when working. Connections that never finished a
    /// request (idle or trickling clients) go first, then idle keep-alive connections, then
    /// connections still sending a body; the longest in their phase first.
    fn eviction_key(&self) -> Option<(u8, u64)> {
        let since = self.since_ms.load(Ordering::Acquire);
        match self.phase.load(Ordering::Acquire) {
            WAITING if !self.served.load(Ordering::Acquire) => Some((0, since)),
            WAITING => Some((1, since)),
            READING_BODY => Some((2, since)),
            _ => None,
        }
    }
}

/// Milliseconds since the server started (cheap to compare in atomics).
#[derive(Debug, Clone)]
pub(crate) struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// What the request path needs from the connection: put in each request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) slot: Arc<Slot>,
    pub(crate) clock: Clock,
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Arc<Slot>>,
}

impl Registry {
    /// Picks the connection to close for a new one ([`Slot::eviction_key`]), tells it to close
    /// and forgets it; `false` if every connection is working.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .open
            .iter()
            .filter_map(|(id, s)| s.eviction_key().map(|k| (k, *id)))
            .min()
            .map(|(_, id)| id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counters of what the limits did, for the servers' `/healthz` and metrics.
#[derive(Debug, Default)]
pub struct ConnStats {
    open: AtomicUsize,
    evicted: AtomicU64,
    shed: AtomicU64,
}

impl ConnStats {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections closed to make room for new ones (at the limit or out of descriptors).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Connections answered 503 at once because every open connection was being worked on.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` resolves; then stops
/// accepting, lets open connections finish their current request, and returns when they are
/// all closed. `stats` counts what the limits did.
///
/// Requests are marked as worked on (never evicted) once [`crate::read_body`] has read their
/// body: run it in a middleware before the handlers. Must run inside a tokio runtime.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()>,
) {
    let clock = Clock(Instant::now());
    let registry = Arc::new(Mutex::new(Registry::default()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let http = Arc::new(http);
    // Every connection task holds a receiver: `closed()` resolves when the last one ends.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                use std::io::ErrorKind::*;
                if matches!(
                    e.kind(),
                    ConnectionAborted | ConnectionReset | ConnectionRefused
                ) {
                    continue;
                }
                // Out of descriptors (EMFILE/ENFILE) or memory: free a connection and retry
                // soon, rather than stalling all clients for a second as a plain loop would.
                let freed = lock(&registry).evict_one();
                if freed {
                    stats.evicted.fetch_add(1, Ordering::Relaxed);
                }
                let pause = if freed { 1 } else { 50 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        // A socket that refuses TCP_NODELAY still works, only slower: nothing to report.
        let _ = tcp.set_nodelay(true);
        let slot = {
            let mut reg = lock(&registry);
            if reg.open.len() >= limits.max_connections {
                if reg.evict_one() {
                    stats.evicted.fetch_add(1, Ordering::Relaxed);
                } else {
                    drop(reg);
                    stats.shed.fetch_add(1, Ordering::Relaxed);
                    shed(tcp);
                    continue;
                }
            }
            let slot = Arc::new(Slot {
                phase: AtomicU8::new(WAITING),
                since_ms: AtomicU64::new(clock.now_ms()),
                served: AtomicBool::new(false),
                evict: Notify::new(),
            });
            let id = reg.next;
            reg.next += 1;
            reg.open.insert(id, slot.clone());
            stats.open.store(reg.open.len(), Ordering::Relaxed);
            (id, slot)
        };
        tokio::spawn(connection(
            tcp,
            slot,
            ConnCtx {
                router: router.clone(),
                http: http.clone(),
                clock: clock.clone(),
                registry: registry.clone(),
                stats: stats.clone(),
                stop: stop_rx.clone(),
            },
        ));
    }
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    // The registry holds no invariant a panic could break half-way: use it anyway.
    registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers 503 without waiting for the client, then closes.
fn shed(tcp: TcpStream) {
    tokio::spawn(async move {
        let mut tcp = tcp;
        let send = async {
            tcp.write_all(&busy_response()).await?;
            tcp.shutdown().await
        };
        // A client that does not read within 100 ms loses the explanation, not the close.
        let _ = tokio::time::timeout(Duration::from_millis(100), send).await;
    });
}

struct ConnCtx {
    router: Router,
    http: Arc<http1::Builder>,
    clock: Clock,
    registry: Arc<Mutex<Registry>>,
    stats: Arc<ConnStats>,
    stop: watch::Receiver<bool>,
}

async fn connection(tcp: TcpStream, (id, slot): (u64, Arc<Slot>), mut ctx: ConnCtx) {
    let info = ConnInfo {
        slot: slot.clone(),
        clock: ctx.clock.clone(),
    };
    let router = ctx.router.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let info = info.clone();
        info.slot.enter(READING_BODY, &info.clock);
        req.extensions_mut().insert(info.clone());
        let service = TowerToHyperService::new(router.clone());
        async move {
            let response = hyper::service::Service::call(&service, req).await;
            info.slot.served.store(true, Ordering::Release);
            info.slot.enter(WAITING, &info.clock);
            response
        }
    });
    let conn = ctx.http.serve_connection(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            () = slot.evict.notified() => break,
            changed = ctx.stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    let mut reg = lock(&ctx.registry);
    reg.open.remove(&id);
    ctx.stats.open.store(reg.open.len(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_well_formed_http_with_a_json_body() {
        let answer = String::from_utf8(busy_response()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["kind"], "overloaded");
    }
}
