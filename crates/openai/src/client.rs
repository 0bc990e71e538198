//! The client: a tokio runtime, a pooled reqwest client, and the retry loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, Error, Result};

/// Connection settings. Build with [`ClientConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8000/v1` or `https://api.openai.com/v1`. A URL
    /// that already ends in `/chat/completions` or `/completions` is taken as the endpoint.
    pub base_url: String,
    /// Bearer token (`Authorization: Bearer …`); `None` sends no header (local servers).
    pub api_key: Option<String>,
    /// Limit for one attempt, from sending to the complete answer.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt for retryable failures.
    pub max_retries: u32,
    /// Wait before the first retry; doubles each retry.
    pub backoff_initial: Duration,
    /// Upper bound of one wait (also caps a server's `Retry-After`).
    pub backoff_max: Duration,
    /// Requests in flight at once in the `*_many` calls.
    pub concurrency: usize,
}

impl ClientConfig {
    /// Defaults: 120 s per attempt, 10 s to connect, 5 retries from 0.5 s doubling up to 30 s,
    /// 16 requests in flight.
    pub fn new(base_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            concurrency: 16,
        }
    }

    /// The wait before retry number `retry` (1-based): `backoff_initial * 2^(retry-1)`, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// A synchronous client (see the crate docs). Cheap to share by reference across threads.
#[derive(Debug)]
pub struct Client {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    cfg: ClientConfig,
    chat_url: String,
    completions_url: String,
}

fn endpoint(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    for known in ["/chat/completions", "/completions"] {
        if let Some(root) = base.strip_suffix(known) {
            return format!("{root}{path}");
        }
    }
    format!("{base}{path}")
}

impl Client {
    /// Creates the client (no request is sent).
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base URL `{}` must start with http:// or https://",
                cfg.base_url
            )));
        }
        if cfg.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        // One thread drives all requests: the work is waiting on sockets.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Client {
            rt,
            shared: Arc::new(Shared {
                http,
                chat_url: endpoint(&cfg.base_url, "/chat/completions"),
                completions_url: endpoint(&cfg.base_url, "/completions"),
                cfg,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.cfg
    }

    /// One chat request (with retries).
    pub fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let shared = self.shared.clone();
        self.rt
            .block_on(async move { post_json(&shared, &shared.chat_url, req).await })
    }

    /// One completion request (with retries).
    pub fn completions(&self, req: &CompletionRequest) -> Result<CompletionResponse> {
        let shared = self.shared.clone();
        self.rt
            .block_on(async move { post_json(&shared, &shared.completions_url, req).await })
    }

    /// Sends every chat request, at most [`ClientConfig::concurrency`] at once, and returns the
    /// results in input order. `on_done(index, &result)` runs on the calling thread as each
    /// request finishes (for progress bars and for caching results as they arrive).
    pub fn chat_many<F>(&self, reqs: &[ChatRequest], on_done: F) -> Vec<Result<ChatResponse>>
    where
        F: FnMut(usize, &Result<ChatResponse>),
    {
        let url = self.shared.chat_url.clone();
        self.many(url, reqs, on_done)
    }

    /// [`Client::chat_many`] for `/v1/completions`.
    pub fn completions_many<F>(
        &self,
        reqs: &[CompletionRequest],
        on_done: F,
    ) -> Vec<Result<CompletionResponse>>
    where
        F: FnMut(usize, &Result<CompletionResponse>),
    {
        let url = self.shared.completions_url.clone();
        self.many(url, reqs, on_done)
    }

    fn many<Req, Resp, F>(&self, url: String, reqs: &[Req], mut on_done: F) -> Vec<Result<Resp>>
    where
        Req: Serialize + Clone + Send + Sync + 'static,
        Resp: DeserializeOwned + Send + 'static,
        F: FnMut(usize, &Result<Resp>),
    {
        let shared = self.shared.clone();
        self.rt.block_on(async move {
            let sem = Arc::new(Semaphore::new(shared.cfg.concurrency));
            let url = Arc::new(url);
            let mut set = JoinSet::new();
            let mut index_of = HashMap::new();
            for (i, req) in reqs.iter().cloned().enumerate() {
                let (sem, shared, url) = (sem.clone(), shared.clone(), url.clone());
                let handle = set.spawn(async move {
                    // The semaphore is never closed, so acquire cannot fail; if it ever did,
                    // sending without a permit is still correct, only less polite.
                    let _permit = sem.acquire_owned().await.ok();
                    (i, post_json::<Req, Resp>(&shared, &url, &req).await)
                });
                index_of.insert(handle.id(), i);
            }
            let mut out: Vec<Option<Result<Resp>>> = (0..reqs.len()).map(|_| None).collect();
            while let Some(joined) = set.join_next_with_id().await {
                let (i, res) = match joined {
                    Ok((_, (i, res))) => (i, res),
                    Err(e) => match index_of.get(&e.id()) {
                        Some(&i) => (i, Err(Error::Task(e.to_string()))),
                        None => continue,
                    },
                };
                on_done(i, &res);
                out[i] = Some(res);
            }
            out.into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Error::Task("request was lost".into()))))
                .collect()
        })
    }
}

async fn post_json<Req, Resp>(shared: &Shared, url: &str, body: &Req) -> Result<Resp>
where
    Req: Serialize + ?Sized,
    Resp: DeserializeOwned,
{
    let cfg = &shared.cfg;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (err, retry_after) = match try_once(shared, url, body).await {
            Ok(resp) => return Ok(resp),
            Err(e) => e,
        };
        if !err.is_retryable() {
            return Err(err);
        }
        if attempt > cfg.max_retries {
            return Err(Error::RetriesExhausted {
                attempts: attempt,
                last: Box::new(err),
            });
        }
        let wait = retry_after
            .map(|ra| ra.max(cfg.backoff(attempt)))
            .unwrap_or_else(|| cfg.backoff(attempt))
            .min(cfg.backoff_max);
        tokio::time::sleep(wait).await;
    }
}

async fn try_once<Req, Resp>(
    shared: &Shared,
    url: &str,
    body: &Req,
) -> std::result::Result<Resp, (Error, Option<Duration>)>
where
    Req: Serialize + ?Sized,
    Resp: DeserializeOwned,
{
    let cfg = &shared.cfg;
    let mut rb = shared.http.post(url).json(body);
    if let Some(key) = &cfg.api_key {
        rb = rb.bearer_auth(key);
    }
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            Error::Timeout {
                url: url.to_string(),
                after: cfg.timeout,
            }
        } else {
            Error::Transport {
                url: url.to_string(),
                message: error_chain(&e),
            }
        }
    };
    let resp = rb.send().await.map_err(|e| (transport(e), None))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let bytes = resp.bytes().await.map_err(|e| (transport(e), None))?;
    if !status.is_success() {
        return Err((
            Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: snippet(&bytes),
            },
            retry_after,
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        (
            Error::Decode {
                url: url.to_string(),
                message: e.to_string(),
                body: snippet(&bytes),
            },
            None,
        )
    })
}

/// The first 500 bytes of a body, lossily decoded, for error messages.
fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(500)]);
    s.trim().to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_urls() {
        assert_eq!(
            endpoint("http://h:1/v1/", "/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://h:1/v1/chat/completions", "/completions"),
            "http://h:1/v1/completions"
        );
        assert_eq!(
            endpoint("http://h:1/v1/completions", "/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut c = ClientConfig::new("http://x");
        c.backoff_initial = Duration::from_millis(100);
        c.backoff_max = Duration::from_millis(350);
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(2), Duration::from_millis(200));
        assert_eq!(c.backoff(3), Duration::from_millis(350));
        assert_eq!(c.backoff(40), Duration::from_millis(350));
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            Client::new(ClientConfig::new("ftp://x")),
            Err(Error::Config(_))
        ));
        let mut c = ClientConfig::new("http://x");
        c.concurrency = 0;
        assert!(matches!(Client::new(c), Err(Error::Config(_))));
    }
}
