//! The attacks of the servers' abuse tests (`tests/abuse.rs` of `aha-reward-server` and
//! `aha-model-server`), in one place: the server in a child process at `ulimit -n 1024`, a
//! well-behaved client whose latencies are checked and printed while an attack runs, and the
//! attacks themselves (slowloris, oversized heads, short bodies, pipelined garbage, clients
//! leaving mid-request, a reconnect flood).
//!
//! Compiled only with the `test-support` feature, which the servers enable as a
//! dev-dependency: nothing here is part of a server.
//!
//! The child is the test binary itself, re-run with `--exact child_server`: each test file has
//! a `child_server` test that returns at once unless [`CHILD_ENV`] is set, and otherwise builds
//! its server and runs it with [`serve_child`] until the parent closes its stdin.

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The child's descriptor limit: the common default, so the attacks can exhaust the server's
/// descriptors and not the test's.
pub const NOFILE: u32 = 1024;
/// The well-behaved client's latency bound per request, generous for a loaded 2-core machine;
/// typical figures are printed.
pub const BOUND: Duration = Duration::from_secs(2);
/// How long each attack lasts at least.
pub const ATTACK: Duration = Duration::from_secs(4);
/// The variable that makes the test binary the server child; its value is a [`ChildSpec`]
/// (`max_connections,header_ms,body_ms`).
pub const CHILD_ENV: &str = "AHA_ABUSE_CHILD";
/// The line prefix with which the child announces its address on stdout.
const ADDR_PREFIX: &str = "AHA_ABUSE_ADDR=";

/// The limits the parent gives the server child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSpec {
    /// [`crate::Limits::max_connections`].
    pub max_connections: usize,
    /// [`crate::Limits::header_timeout`].
    pub header_timeout: Duration,
    /// [`crate::Limits::body_timeout`].
    pub body_timeout: Duration,
}

impl ChildSpec {
    /// Limits with timeouts in milliseconds.
    pub fn new(max_connections: usize, header_ms: u64, body_ms: u64) -> ChildSpec {
        ChildSpec {
            max_connections,
            header_timeout: Duration::from_millis(header_ms),
            body_timeout: Duration::from_millis(body_ms),
        }
    }

    /// Parses the value of [`CHILD_ENV`].
    pub fn parse(spec: &str) -> Result<ChildSpec> {
        let n: Vec<u64> = spec
            .split(',')
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("{CHILD_ENV}={spec}"))?;
        let [max_connections, header_ms, body_ms] = n[..] else {
            bail!("{CHILD_ENV}={spec}: expected max_connections,header_ms,body_ms");
        };
        Ok(ChildSpec::new(max_connections as usize, header_ms, body_ms))
    }

    fn to_env(self) -> String {
        format!(
            "{},{},{}",
            self.max_connections,
            self.header_timeout.as_millis(),
            self.body_timeout.as_millis()
        )
    }
}

/// In the child: builds a 2-thread runtime, binds 127.0.0.1 on a free port, announces it to the
/// parent and runs `serve` on the listener. `serve` should stop when [`parent_gone`] fires.
pub fn serve_child<F, Fut>(serve: F) -> Result<()>
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{ADDR_PREFIX}{}", listener.local_addr()?);
        serve(listener).await
    })
}

/// In the child: a future that ends when the parent closes the child's stdin (or dies), for
/// the server's shutdown.
pub fn parent_gone() -> impl Future<Output = ()> + Send + 'static {
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 1];
        let _ = std::io::stdin().read(&mut buf);
        let _ = gone_tx.send(());
    });
    async move {
        let _ = gone_rx.await;
    }
}

/// The server child; killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this test binary's `child_server` test as the server child, at `ulimit -n`
/// [`NOFILE`], with `spec`; returns once it announced its address.
pub fn spawn(spec: ChildSpec) -> Result<Server> {
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec.to_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            bail!("the server child exited before announcing its address");
        };
        // The test harness prints `test child_server ... ` on the same line first.
        let line = line?;
        if let Some((_, a)) = line.split_once(ADDR_PREFIX) {
            break a.trim().parse()?;
        }
    };
    // Keep draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok(Server { child, addr })
}

/// The well-behaved client's latencies during one attack.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    /// Requests answered.
    pub requests: usize,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

/// Runs `good` (one well-behaved request, which fails on a wrong answer) before, during and
/// after an attack: `attack` runs again and again for at least [`ATTACK`] while `good` runs
/// back to back (20 ms apart), each within [`BOUND`]. Prints and returns the latencies.
pub async fn under_attack<G, GF, F, Fut>(name: &str, good: G, mut attack: F) -> Result<Latencies>
where
    G: Fn() -> GF + Send + Sync + 'static,
    GF: Future<Output = Result<()>> + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let good = Arc::new(good);
    // The server works before the attack.
    good().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn({
        let (good, stop) = (good.clone(), stop.clone());
        async move {
            let mut took = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                tokio::time::timeout(BOUND, good())
                    .await
                    .with_context(|| format!("request {} took over {BOUND:?}", took.len()))??;
                took.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, anyhow::Error>(took)
        }
    });
    let start = Instant::now();
    let attacked = async {
        while start.elapsed() < ATTACK {
            attack().await?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut took = client.await??;
    attacked?;
    ensure!(took.len() >= 5, "only {} good requests", took.len());
    took.sort();
    let pct = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    let l = Latencies {
        requests: took.len(),
        p50: pct(0.5),
        p99: pct(0.99),
        max: took[took.len() - 1],
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "abuse {name}: well-behaved client {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        l.requests,
        ms(l.p50),
        ms(l.p99),
        ms(l.max),
    );
    // And after it.
    good().await?;
    Ok(l)
}

/// Opens `n` connections: even ones stay silent, odd ones trickle a request head to `path`
/// one byte every 200 ms; holds them for `hold`, reopening any the server closes. Returns how
/// many the server closed.
pub async fn slowloris(addr: SocketAddr, path: &str, n: usize, hold: Duration) -> Result<usize> {
    let until = Instant::now() + hold;
    let head: Arc<[u8]> = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nx-slow: {}",
        "a".repeat(80)
    )
    .into_bytes()
    .into();
    let mut tasks = Vec::new();
    for i in 0..n {
        let head = head.clone();
        tasks.push(tokio::spawn(async move {
            let mut reopened = 0usize;
            while Instant::now() < until {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut k = 0;
                loop {
                    if Instant::now() >= until {
                        break;
                    }
                    let wrote = if i % 2 == 1 && k < head.len() {
                        k += 1;
                        s.write_all(&head[k - 1..k]).await.is_ok()
                    } else {
                        true
                    };
                    // A closed connection reads 0 (or fails): reopen it.
                    let mut buf = [0u8; 256];
                    let closed = matches!(
                        tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await,
                        Ok(Ok(0) | Err(_))
                    );
                    if !wrote || closed {
                        reopened += 1;
                        // slowloris.py reopens closed sockets once per cycle, not at once.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
            reopened
        }));
    }
    let mut reopened = 0;
    for t in tasks {
        reopened += t.await?;
    }
    Ok(reopened)
}

/// Sends `bytes` on a fresh connection and returns what the server answered before closing
/// (or within `wait`).
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    // The server may close before taking everything: that is an answer too.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// 50 parallel `GET path` requests with a 200 KiB header: each must get `431` or a close.
pub async fn oversized_headers(addr: SocketAddr, path: &str) -> Result<()> {
    let big = "a".repeat(200 * 1024);
    let req: Arc<[u8]> = format!("GET {path} HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n")
        .into_bytes()
        .into();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            raw(addr, &req, Duration::from_secs(3)).await
        }));
    }
    for t in tasks {
        let answer = t.await??;
        ensure!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
            "{answer:.200}"
        );
    }
    Ok(())
}

/// 300 parallel `POST path` requests announcing a 1000-byte JSON body and sending `start` of
/// it only: each must get `408`, with `says` in the answer, within 4 s.
pub async fn short_bodies(addr: SocketAddr, path: &str, start: &str, says: &str) -> Result<()> {
    let req: Arc<[u8]> = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{start}"
    )
    .into_bytes()
    .into();
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let answer = raw(addr, &req, Duration::from_secs(5)).await?;
            Ok::<_, anyhow::Error>((answer, start.elapsed()))
        }));
    }
    for t in tasks {
        let (answer, took) = t.await??;
        ensure!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
        ensure!(answer.contains(says), "{answer:.300}");
        ensure!(took < Duration::from_secs(4), "408 after {took:?}");
    }
    Ok(())
}

/// 200 parallel connections each sending a valid `GET path` and then 4 KiB of bytes that are
/// no HTTP at all: each must get its `200` once and nothing else that succeeds (hyper answers
/// the garbage with `400` or closes).
pub async fn pipelined_garbage(addr: SocketAddr, path: &str) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let mut req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes();
        // Deterministic per connection (xorshift).
        let mut x = i.wrapping_mul(2_654_435_761).wrapping_add(1);
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            req.push((x & 0xff) as u8);
        }
        tasks.push(tokio::spawn(async move {
            raw(addr, &req, Duration::from_secs(5)).await
        }));
    }
    for t in tasks {
        let answer = t.await??;
        ensure!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
        ensure!(answer.matches("HTTP/1.1 200").count() == 1, "{answer:.600}");
    }
    Ok(())
}

/// One parallel `POST path` per body in `bodies` (JSON); the even ones leave in the middle of
/// the body, the odd ones after sending it all (while it is worked on), a few ms later.
pub async fn disconnect_mid_request(
    addr: SocketAddr,
    path: &str,
    bodies: Vec<Vec<u8>>,
) -> Result<()> {
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(head.as_bytes()).await?;
            let cut = if i % 2 == 0 {
                body.len() / 2
            } else {
                body.len()
            };
            s.write_all(&body[..cut]).await?;
            tokio::time::sleep(Duration::from_millis((i % 7) as u64 * 5)).await;
            drop(s);
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Connects and closes at once, `tasks` clients in parallel, for `time`; half close with FIN,
/// half reset (zero linger). Returns the connections made.
pub async fn reconnect_flood(addr: SocketAddr, tasks: usize, time: Duration) -> Result<u64> {
    let made = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + time;
    let mut handles = Vec::new();
    for i in 0..tasks {
        let made = made.clone();
        handles.push(tokio::spawn(async move {
            while Instant::now() < until {
                // Refused or failed connects are part of the flood too: try again at once.
                if let Ok(s) = TcpStream::connect(addr).await {
                    if i % 2 == 1 {
                        let _ = s.set_zero_linger();
                    }
                    made.fetch_add(1, Ordering::Relaxed);
                    drop(s);
                } else {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for h in handles {
        h.await?;
    }
    Ok(made.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_specs_round_trip_and_bad_ones_are_named() {
        let spec = ChildSpec::new(512, 5_000, 1_000);
        assert_eq!(ChildSpec::parse(&spec.to_env()).unwrap(), spec);
        let err = ChildSpec::parse("512,5000").unwrap_err().to_string();
        assert!(err.contains(CHILD_ENV), "{err}");
        assert!(ChildSpec::parse("x,1,2").is_err());
    }
}
