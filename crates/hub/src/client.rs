//! The HTTP side: revision info, file metadata (`HEAD …/resolve/<rev>/<path>`), and resumable
//! downloads into the cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, RANGE};

use crate::cache::{RepoCache, is_commit};
use crate::error::{Error, Result, io};
use crate::{HubOptions, Listing, Repo, RepoKind};

/// A hub client with a cache. Its methods block; do not call them from inside an async runtime.
pub struct Hub {
    opts: HubOptions,
    endpoint: String,
    rt: tokio::runtime::Runtime,
    /// Follows redirects (downloads from the CDN a resolve URL redirects to).
    http: reqwest::Client,
    /// Follows none: the metadata of a file is in the hub's own response, before any redirect.
    meta: reqwest::Client,
}

/// What `HEAD …/resolve/<rev>/<path>` says about a file.
struct FileMeta {
    commit: String,
    etag: String,
    size: Option<u64>,
    /// Where to GET the bytes (the resolve URL, or where it redirects to).
    url: String,
    /// Whether `url` is the hub's own (the token is sent there, never to a CDN).
    on_hub: bool,
}

/// Percent-encodes one URL path segment (everything but unreserved characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `W/"abc"` and `"abc"` are both the ETag `abc`.
fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

impl Hub {
    /// Creates the client (no request is sent, nothing is written).
    pub fn new(opts: HubOptions) -> Result<Hub> {
        let endpoint = opts.endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(Error::Setup(format!(
                "endpoint `{endpoint}` must start with http:// or https://"
            )));
        }
        let build = |redirects: bool| {
            let policy = if redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            };
            reqwest::Client::builder()
                .redirect(policy)
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .user_agent(concat!("aha-hub/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Setup(e.to_string()))
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Hub {
            http: build(true)?,
            meta: build(false)?,
            rt,
            endpoint,
            opts,
        })
    }

    /// The options it was created with.
    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// The repository's folder in the cache (`models--ORG--NAME`, `datasets--ORG--NAME`).
    pub fn cache_folder(&self, repo: &Repo) -> PathBuf {
        RepoCache::new(&self.opts.cache_dir, repo).root
    }

    fn api_url(&self, repo: &Repo) -> String {
        let kind = match repo.kind {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        };
        format!(
            "{}/api/{kind}/{}/revision/{}",
            self.endpoint,
            encode_path(&repo.id),
            encode(&repo.revision)
        )
    }

    fn resolve_url(&self, repo: &Repo, path: &str) -> String {
        let kind = match repo.kind {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        };
        format!(
            "{}/{kind}{}/resolve/{}/{}",
            self.endpoint,
            encode_path(&repo.id),
            encode(&repo.revision),
            encode_path(path)
        )
    }

    /// Adds the token, to the hub's own URLs only (never to the CDN a download redirects to).
    fn authorize(&self, req: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
        match &self.opts.token {
            Some(t) if url.starts_with(&format!("{}/", self.endpoint)) => req.bearer_auth(t),
            _ => req,
        }
    }

    fn status_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        url: &str,
        repo: &Repo,
        path: Option<&str>,
    ) -> Error {
        let code = header(headers, "x-error-code");
        let message = header(headers, "x-error-message");
        let token_sent = self.opts.token.is_some();
        let not_found = || match path {
            Some(p) => Error::EntryNotFound {
                repo: repo.id.clone(),
                revision: repo.revision.clone(),
                path: p.to_string(),
            },
            None => Error::RepoNotFound {
                repo: repo.id.clone(),
                endpoint: self.endpoint.clone(),
                token_sent,
            },
        };
        match (code.as_deref(), status) {
            (Some("RepoNotFound"), _) => Error::RepoNotFound {
                repo: repo.id.clone(),
                endpoint: self.endpoint.clone(),
                token_sent,
            },
            (Some("RevisionNotFound"), _) => Error::RevisionNotFound {
                repo: repo.id.clone(),
                revision: repo.revision.clone(),
            },
            (Some("EntryNotFound"), _) => not_found(),
            (code, 401 | 403) => {
                let gated = code == Some("GatedRepo");
                let page = format!("{}/{}", self.endpoint, repo.id);
                let hint = match (gated, token_sent) {
                    (_, false) => {
                        "no token was sent; set HF_TOKEN to a token of an account with access"
                            .to_string()
                    }
                    (true, true) => format!(
                        "accept the repository's conditions at {page} with the token's account"
                    ),
                    (false, true) => "the token sent does not give access to it".to_string(),
                };
                Error::Unauthorized {
                    repo: repo.id.clone(),
                    status,
                    gated,
                    message,
                    hint,
                }
            }
            (_, 404) => not_found(),
            _ => Error::Http {
                url: url.to_string(),
                status,
                message,
            },
        }
    }

    /// The files of `repo` at its revision. Offline, or when the hub cannot be reached, the
    /// files of the cached snapshot (only those downloaded before).
    pub fn list_files(&self, repo: &Repo) -> Result<Listing> {
        let cache = RepoCache::new(&self.opts.cache_dir, repo);
        let from_cache = |reason: String| match cache.commit_of(&repo.revision) {
            Some(commit) if cache.snapshot(&commit).is_dir() => Ok(Listing {
                files: cache.snapshot_files(&commit),
                commit,
            }),
            _ => Err(Error::NotCached {
                repo: repo.id.clone(),
                revision: repo.revision.clone(),
                what: "the file list".into(),
                cache: cache.root.clone(),
                reason,
            }),
        };
        if self.opts.offline {
            return from_cache("offline mode is on (HF_HUB_OFFLINE)".into());
        }
        let url = self.api_url(repo);
        let fetched = self.rt.block_on(async {
            let resp = self
                .authorize(self.meta.get(&url), &url)
                .send()
                .await
                .map_err(|source| Error::Network {
                    url: url.clone(),
                    source,
                })?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(self.status_error(status, resp.headers(), &url, repo, None));
            }
            resp.bytes().await.map_err(|source| Error::Network {
                url: url.clone(),
                source,
            })
        });
        let body = match fetched {
            Ok(b) => b,
            Err(Error::Network { url, source }) => {
                return from_cache(format!("the hub could not be reached ({url}: {source})"));
            }
            Err(e) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        struct Sibling {
            rfilename: String,
        }
        #[derive(serde::Deserialize)]
        struct Info {
            sha: String,
            #[serde(default)]
            siblings: Vec<Sibling>,
        }
        let info: Info = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: url.clone(),
            message: format!("expected {{\"sha\", \"siblings\": [{{\"rfilename\"}}]}}: {e}"),
        })?;
        if !is_commit(&info.sha) {
            return Err(Error::Protocol {
                url,
                message: format!("\"sha\" is not a commit hash: {}", info.sha),
            });
        }
        cache.write_ref(&repo.revision, &info.sha)?;
        let mut files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        files.sort();
        Ok(Listing {
            commit: info.sha,
            files,
        })
    }

    /// One file of `repo` at its revision: its path in the cache's snapshot, downloaded first
    /// unless cached. Offline, or when the hub cannot be reached, the cached file or
    /// [`Error::NotCached`].
    pub fn download(&self, repo: &Repo, path: &str) -> Result<PathBuf> {
        let cache = RepoCache::new(&self.opts.cache_dir, repo);
        if is_commit(&repo.revision)
            && let Some(p) = cache.cached_file(&repo.revision, path)
        {
            return Ok(p);
        }
        let not_cached = |reason: String| {
            cache
                .cached_file(&repo.revision, path)
                .ok_or_else(|| Error::NotCached {
                    repo: repo.id.clone(),
                    revision: repo.revision.clone(),
                    what: format!("file \"{path}\""),
                    cache: cache.root.clone(),
                    reason,
                })
        };
        if self.opts.offline {
            return not_cached("offline mode is on (HF_HUB_OFFLINE)".into());
        }
        let meta = match self.rt.block_on(self.head(repo, path)) {
            Ok(m) => m,
            Err(Error::Network { url, source }) => {
                return not_cached(format!("the hub could not be reached ({url}: {source})"));
            }
            Err(e) => return Err(e),
        };
        cache.write_ref(&repo.revision, &meta.commit)?;
        let pointer = cache.pointer(&meta.commit, path);
        if pointer.is_file() {
            return Ok(pointer);
        }
        let blob = cache.blob(&meta.etag);
        if !blob.is_file() {
            let dir = blob.parent().expect("blob has a parent");
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let label = format!("{}/{path}", repo.id);
            self.rt.block_on(self.fetch(&meta, &blob, &label))?;
        }
        cache.link(&meta.commit, path, &meta.etag)
    }

    async fn head(&self, repo: &Repo, path: &str) -> Result<FileMeta> {
        let mut url = self.resolve_url(repo, path);
        for _ in 0..5 {
            let resp = self
                .authorize(self.meta.head(&url), &url)
                .header(reqwest::header::ACCEPT_ENCODING, "identity")
                .send()
                .await
                .map_err(|source| Error::Network {
                    url: url.clone(),
                    source,
                })?;
            let status = resp.status();
            let headers = resp.headers();
            let mut on_hub = false;
            let download_url = if status.is_redirection() {
                let location = header(headers, "location").ok_or_else(|| Error::Protocol {
                    url: url.clone(),
                    message: format!("HTTP {} without a Location header", status.as_u16()),
                })?;
                if location.starts_with('/') {
                    // A relative redirect stays on the hub (a renamed repository): follow it.
                    url = format!("{}{location}", self.endpoint);
                    continue;
                }
                location
            } else if status.is_success() {
                on_hub = true;
                url.clone()
            } else {
                return Err(self.status_error(status.as_u16(), headers, &url, repo, Some(path)));
            };
            let commit = header(headers, "x-repo-commit").ok_or_else(|| Error::Protocol {
                url: url.clone(),
                message: "no X-Repo-Commit header (is the endpoint a Hugging Face hub?)".into(),
            })?;
            let etag = header(headers, "x-linked-etag")
                .or_else(|| header(headers, "etag"))
                .map(|e| normalize_etag(&e))
                .filter(|e| !e.is_empty() && !e.contains(['/', '\\']))
                .ok_or_else(|| Error::Protocol {
                    url: url.clone(),
                    message: "no usable ETag header".into(),
                })?;
            let size = header(headers, "x-linked-size")
                .or_else(|| header(headers, "content-length"))
                .and_then(|s| s.parse().ok());
            return Ok(FileMeta {
                commit,
                etag,
                size,
                url: download_url,
                on_hub,
            });
        }
        Err(Error::Protocol {
            url,
            message: "too many redirects".into(),
        })
    }

    /// Downloads `url` into `blob`, through `blob.incomplete`: what a cut connection left there
    /// is resumed with `Range: bytes=N-` (up to `retries` times here, and on the next call).
    async fn fetch(&self, meta: &FileMeta, blob: &Path, label: &str) -> Result<()> {
        let (url, size) = (meta.url.as_str(), meta.size);
        let mut part_name = blob.as_os_str().to_owned();
        part_name.push(".incomplete");
        let part = PathBuf::from(part_name);
        let bar = if self.opts.progress {
            indicatif::ProgressBar::new(size.unwrap_or(0))
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid progress template"),
        );
        bar.set_message(label.to_string());
        let mut attempt = 0u32;
        'attempts: loop {
            let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if size.is_some_and(|s| have == s && s > 0) {
                break;
            }
            if size.is_some_and(|s| have > s) {
                std::fs::remove_file(&part).map_err(io(&part))?;
                have = 0;
            }
            let mut req = self.http.get(url);
            if meta.on_hub {
                req = self.authorize(req, url);
            }
            if have > 0 {
                req = req.header(RANGE, format!("bytes={have}-"));
            }
            let mut resp = match req.send().await {
                Ok(r) => r,
                Err(source) if attempt < self.opts.retries && !source.is_connect() => {
                    attempt += 1;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Network {
                        url: url.to_string(),
                        source,
                    });
                }
            };
            let status = resp.status().as_u16();
            let mut file = match status {
                206 => std::fs::OpenOptions::new()
                    .append(true)
                    .open(&part)
                    .map_err(io(&part))?,
                200 => {
                    have = 0;
                    std::fs::File::create(&part).map_err(io(&part))?
                }
                416 if have > 0 && attempt < self.opts.retries => {
                    // The partial file does not fit the remote one: start over.
                    std::fs::remove_file(&part).map_err(io(&part))?;
                    attempt += 1;
                    continue;
                }
                _ => {
                    return Err(Error::Http {
                        url: url.to_string(),
                        status,
                        message: header(resp.headers(), "x-error-message"),
                    });
                }
            };
            bar.set_position(have);
            loop {
                match resp.chunk().await {
                    Ok(Some(bytes)) => {
                        file.write_all(&bytes).map_err(io(&part))?;
                        have += bytes.len() as u64;
                        bar.set_position(have);
                    }
                    Ok(None) => break,
                    Err(source) => {
                        file.flush().map_err(io(&part))?;
                        drop(file);
                        if attempt < self.opts.retries {
                            attempt += 1;
                            continue 'attempts;
                        }
                        bar.abandon();
                        return Err(Error::Interrupted {
                            url: url.to_string(),
                            received: have,
                            total: size,
                            partial: part,
                            source,
                        });
                    }
                }
            }
            file.flush().map_err(io(&part))?;
            break;
        }
        let got = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if let Some(s) = size
            && got != s
        {
            return Err(Error::Protocol {
                url: url.to_string(),
                message: format!("got {got} bytes, the hub announced {s}"),
            });
        }
        std::fs::rename(&part, blob).map_err(io(blob))?;
        bar.finish_and_clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let hub = Hub::new(HubOptions {
            endpoint: "http://h/".into(),
            ..HubOptions::new("/c")
        })
        .unwrap();
        let ds = Repo::dataset("a/b").at("refs/convert/parquet");
        assert_eq!(
            hub.resolve_url(&ds, "default/test/0000.parquet"),
            "http://h/datasets/a/b/resolve/refs%2Fconvert%2Fparquet/default/test/0000.parquet"
        );
        assert_eq!(
            hub.api_url(&Repo::model("a/b")),
            "http://h/api/models/a/b/revision/main"
        );
        assert_eq!(
            hub.resolve_url(&Repo::model("a/b"), "x y.json"),
            "http://h/a/b/resolve/main/x%20y.json"
        );
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
    }
}
