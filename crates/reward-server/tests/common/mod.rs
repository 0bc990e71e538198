//! Shared helpers of the integration tests: a server on 127.0.0.1 port 0 with the real grader,
//! and a minimal keep-alive HTTP/1.1 client (hyper).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_reward_server::{AhaScorer, RewardService, Sample, Scored, Scorer, ServeConfig, Template};
use aha_verify::{CountdownOptions, RewardScheme};
use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The grader `aha serve-reward` builds by default (qwen-math template, binary rewards,
/// paper15 keywords).
pub fn real_scorer(template: Template, scheme: RewardScheme) -> Result<AhaScorer> {
    let detector = KeywordDetector::new(&Keywords::preset("paper15")?, MatchMode::Substring)?;
    Ok(AhaScorer::new(
        template.math_options(scheme),
        CountdownOptions::default(),
        detector,
    ))
}

/// Delegates to the real grader after sleeping: makes requests slow enough to test deadlines
/// and shutdown deterministically.
pub struct Slow {
    pub inner: AhaScorer,
    pub delay: Duration,
}

impl Scorer for Slow {
    fn score(&self, sample: &Sample) -> Scored {
        std::thread::sleep(self.delay);
        self.inner.score(sample)
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<aha_reward_server::Result<()>>,
}

impl TestServer {
    /// Sends the shutdown signal; the server finishes in-flight requests and exits.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(config: ServeConfig, scorer: Arc<dyn Scorer>) -> Result<TestServer> {
    let service = RewardService::new(config, scorer)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(service.serve(listener, async move {
        let _ = rx.await;
    }));
    Ok(TestServer {
        addr,
        stop: Some(tx),
        handle,
    })
}

pub async fn start_default() -> Result<TestServer> {
    start(
        ServeConfig::default(),
        Arc::new(real_scorer(Template::QwenMath, RewardScheme::Binary)?),
    )
    .await
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, addr })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Reply> {
        self.sender.ready().await?;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", content_type)
            .body(Full::new(body.into()))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Result<Reply> {
        self.request("POST", path, "application/json", serde_json::to_vec(body)?)
            .await
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        self.request("GET", path, "text/plain", Bytes::new()).await
    }
}

/// Waits until the server reports a grading job running (so a request is surely in flight),
/// polling `/healthz` on a separate connection.
pub async fn wait_until_busy(addr: SocketAddr) -> Result<()> {
    let mut c = Conn::open(addr).await?;
    for _ in 0..500 {
        if c.get("/healthz").await?.json()?["busy_workers"].as_u64() >= Some(1) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("no request became busy within 5 s")
}
