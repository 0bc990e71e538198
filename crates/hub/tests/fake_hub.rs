//! The client against a fake hub served on 127.0.0.1 by the test itself: the hub's revision API
//! (`/api/{models,datasets}/ORG/NAME/revision/REV`), `resolve/REV/PATH` with `X-Repo-Commit`,
//! `ETag` / `X-Linked-Etag` / `X-Linked-Size` and a redirect to a "CDN" for large (LFS) files,
//! `Range` requests, 401/403 for a gated repository, 404 with the hub's `X-Error-Code`s, and
//! connections cut mid-file. Nothing here reaches the internet.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aha_hub::{Error, Hub, HubOptions, ModelFiles, ModelName, Repo};

#[derive(Default, Clone)]
struct Snapshot {
    commit: String,
    files: BTreeMap<String, Vec<u8>>,
    /// Served through a redirect to /cdn/<sha256-like etag>, as the hub serves LFS files.
    lfs: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Logged {
    method: String,
    path: String,
    range: Option<String>,
    auth: Option<String>,
}

#[derive(Default)]
struct State {
    /// ("models" | "datasets", "org/name", revision) -> snapshot
    repos: BTreeMap<(String, String, String), Snapshot>,
    gated: BTreeSet<String>,
    /// (file-name suffix, bytes sent before the cut, how many more responses to cut)
    cuts: Vec<(String, usize, usize)>,
    log: Vec<Logged>,
}

struct FakeHub {
    url: String,
    state: Arc<Mutex<State>>,
}

const TOKEN: &str = "hf_good";

fn etag_of(bytes: &[u8], len: usize) -> String {
    // FNV-1a, repeated to the width of a git sha1 (40) or a sha256 (64); unique enough here.
    let mut out = String::new();
    let mut h: u64 = 0xcbf29ce484222325;
    while out.len() < len {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= out.len() as u64;
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(len);
    out
}

fn commit(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl FakeHub {
    fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (s, u) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, u) = (s.clone(), u.clone());
                std::thread::spawn(move || serve(conn, &s, &u));
            }
        });
        FakeHub { url, state }
    }

    fn add(&self, kind: &str, id: &str, revision: &str, snap: Snapshot) {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert((kind.into(), id.into(), revision.into()), snap);
    }

    fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    fn downloads(&self) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.method == "GET" && !l.path.starts_with("/api/"))
            .collect()
    }

    fn hub(&self, cache: &Path, token: Option<&str>, retries: u32) -> Hub {
        Hub::new(HubOptions {
            endpoint: self.url.clone(),
            token: token.map(str::to_string),
            retries,
            ..HubOptions::new(cache)
        })
        .unwrap()
    }
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head: bool,
    cut: Option<usize>,
) {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    if !head {
        let n = cut.unwrap_or(body.len()).min(body.len());
        let _ = stream.write_all(&body[..n]);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn error(stream: &mut TcpStream, status: u16, code: &str, head: bool) {
    let h = vec![
        ("X-Error-Code".to_string(), code.to_string()),
        ("X-Error-Message".to_string(), format!("{code} (fake hub)")),
    ];
    respond(stream, status, &h, b"{}", head, None);
}

/// Serves `bytes` honouring `Range: bytes=N-`, cutting the body if a cut rule matches `name`.
fn serve_bytes(
    stream: &mut TcpStream,
    st: &Arc<Mutex<State>>,
    name: &str,
    bytes: &[u8],
    range: Option<&str>,
    mut headers: Vec<(String, String)>,
    head: bool,
) {
    let mut cut = None;
    if !head {
        let mut s = st.lock().unwrap();
        if let Some(rule) = s.cuts.iter_mut().find(|c| name.ends_with(&c.0) && c.2 > 0) {
            rule.2 -= 1;
            cut = Some(rule.1);
        }
    }
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(n) if n >= bytes.len() => respond(stream, 416, &headers, b"", head, None),
        Some(n) => {
            headers.push((
                "Content-Range".into(),
                format!("bytes {n}-{}/{}", bytes.len() - 1, bytes.len()),
            ));
            respond(stream, 206, &headers, &bytes[n..], head, cut)
        }
        None => respond(stream, 200, &headers, bytes, head, cut),
    }
}

fn serve(mut stream: TcpStream, st: &Arc<Mutex<State>>, base: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    let auth = headers.get("authorization").cloned();
    st.lock().unwrap().log.push(Logged {
        method: method.clone(),
        path: target.clone(),
        range: range.clone(),
        auth: auth.clone(),
    });
    let head = method == "HEAD";
    let segs: Vec<&str> = target.trim_start_matches('/').split('/').collect();

    if segs[0] == "cdn" {
        let etag = segs[1];
        let found = {
            let s = st.lock().unwrap();
            s.repos
                .values()
                .flat_map(|snap| snap.files.iter())
                .find(|(_, b)| etag_of(b, 64) == etag)
                .map(|(n, b)| (n.clone(), b.clone()))
        };
        match found {
            Some((name, bytes)) => serve_bytes(
                &mut stream,
                st,
                &name,
                &bytes,
                range.as_deref(),
                vec![],
                head,
            ),
            None => error(&mut stream, 404, "EntryNotFound", head),
        }
        return;
    }

    // /api/{kind}/{org}/{name}/revision/{rev}  or  [/datasets]/{org}/{name}/resolve/{rev}/{path..}
    let (kind, org, name, op, rev, rest) = if segs[0] == "api" && segs.len() >= 6 {
        (
            segs[1].to_string(),
            segs[2],
            segs[3],
            segs[4],
            decode(segs[5]),
            vec![],
        )
    } else if segs[0] == "datasets" && segs.len() >= 6 {
        (
            "datasets".into(),
            segs[1],
            segs[2],
            segs[3],
            decode(segs[4]),
            segs[5..].to_vec(),
        )
    } else if segs.len() >= 5 {
        (
            "models".into(),
            segs[0],
            segs[1],
            segs[2],
            decode(segs[3]),
            segs[4..].to_vec(),
        )
    } else {
        return error(&mut stream, 404, "NotFound", head);
    };
    let id = format!("{org}/{name}");
    let (known, snap, gated) = {
        let s = st.lock().unwrap();
        let known = s.repos.keys().any(|(k, i, _)| *k == kind && *i == id);
        // A revision is a branch name or any commit of the repository.
        let snap = s
            .repos
            .get(&(kind.clone(), id.clone(), rev.clone()))
            .or_else(|| {
                s.repos
                    .iter()
                    .find(|((k, i, _), snap)| *k == kind && *i == id && snap.commit == rev)
                    .map(|(_, snap)| snap)
            })
            .cloned();
        (known, snap, s.gated.contains(&id))
    };
    if !known {
        return error(&mut stream, 404, "RepoNotFound", head);
    }
    if gated && auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let status = if auth.is_some() { 403 } else { 401 };
        return error(&mut stream, status, "GatedRepo", head);
    }
    let Some(snap) = snap else {
        return error(&mut stream, 404, "RevisionNotFound", head);
    };
    match op {
        "revision" => {
            let siblings: Vec<_> = snap
                .files
                .keys()
                .map(|f| serde_json::json!({"rfilename": f}))
                .collect();
            let body =
                serde_json::json!({"id": id, "sha": snap.commit, "siblings": siblings}).to_string();
            respond(
                &mut stream,
                200,
                &[("Content-Type".into(), "application/json".into())],
                body.as_bytes(),
                head,
                None,
            );
        }
        "resolve" => {
            let path = rest.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/");
            let Some(bytes) = snap.files.get(&path) else {
                return error(&mut stream, 404, "EntryNotFound", head);
            };
            let mut h = vec![("X-Repo-Commit".to_string(), snap.commit.clone())];
            if snap.lfs.contains(&path) {
                let sha = etag_of(bytes, 64);
                h.push(("X-Linked-Etag".into(), format!("\"{sha}\"")));
                h.push(("X-Linked-Size".into(), bytes.len().to_string()));
                h.push(("ETag".into(), format!("\"{}\"", etag_of(b"pointer", 40))));
                h.push(("Location".into(), format!("{base}/cdn/{sha}")));
                respond(&mut stream, 302, &h, b"", head, None);
            } else {
                h.push(("ETag".into(), format!("\"{}\"", etag_of(bytes, 40))));
                serve_bytes(&mut stream, st, &path, bytes, range.as_deref(), h, head);
            }
        }
        _ => error(&mut stream, 404, "NotFound", head),
    }
}

fn snapshot(n: u8, files: &[(&str, &[u8])], lfs: &[&str]) -> Snapshot {
    Snapshot {
        commit: commit(n),
        files: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
        lfs: lfs.iter().map(|s| s.to_string()).collect(),
    }
}

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn model(s: &str) -> ModelName {
    s.parse().unwrap()
}

#[test]
fn model_download_uses_huggingface_hub_layout_and_is_reused() {
    let hub = FakeHub::start();
    let weights = big(200_000);
    hub.add(
        "models",
        "org/tiny",
        "main",
        snapshot(
            1,
            &[
                ("config.json", b"{\"model_type\": \"llama\"}"),
                ("model.safetensors", &weights),
                ("tokenizer.json", b"{}"),
                ("README.md", b"# tiny"),
            ],
            &["model.safetensors"],
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let client = hub.fake_client(cache.path());
    let ModelFiles::Directory(dir) = client.model(&model("org/tiny")).unwrap() else {
        panic!("expected a directory")
    };
    let root = cache.path().join("models--org--tiny");
    assert_eq!(dir, root.join("snapshots").join(commit(1)));
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).unwrap(),
        commit(1)
    );
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(!dir.join("README.md").exists(), "only the model's files");
    // snapshots/<commit>/<file> -> ../../blobs/<etag>: the LFS file under its sha256, the small
    // file under its git ETag, as huggingface_hub lays them out.
    let link = std::fs::read_link(dir.join("model.safetensors")).unwrap();
    assert_eq!(
        link,
        PathBuf::from("../../blobs").join(etag_of(&weights, 64))
    );
    let link = std::fs::read_link(dir.join("config.json")).unwrap();
    assert_eq!(
        link,
        PathBuf::from("../../blobs").join(etag_of(b"{\"model_type\": \"llama\"}", 40))
    );
    // The token went to the hub, never to the CDN.
    for l in hub.log() {
        if l.path.starts_with("/cdn/") {
            assert_eq!(l.auth, None, "{l:?}");
        } else {
            assert_eq!(l.auth.as_deref(), Some("Bearer hf_good"), "{l:?}");
        }
    }
    let got = hub.downloads().len();
    assert_eq!(got, 3, "{:?}", hub.downloads());
    // Again: nothing is downloaded twice.
    client.model(&model("org/tiny")).unwrap();
    assert_eq!(hub.downloads().len(), got);
    // A new commit with the same weights: the blob is shared, only the changed file is fetched.
    hub.add(
        "models",
        "org/tiny",
        "main",
        snapshot(
            2,
            &[
                ("config.json", b"{\"model_type\": \"qwen2\"}"),
                ("model.safetensors", &weights),
                ("tokenizer.json", b"{}"),
            ],
            &["model.safetensors"],
        ),
    );
    let d2 = client.model(&model("org/tiny")).unwrap();
    assert_eq!(d2.path(), root.join("snapshots").join(commit(2)));
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).unwrap(),
        commit(2)
    );
    assert_eq!(hub.downloads().len(), got + 1, "{:?}", hub.downloads());
}

impl FakeHub {
    fn fake_client(&self, cache: &Path) -> Hub {
        self.hub(cache, Some(TOKEN), 3)
    }
}

#[test]
fn gguf_repositories() {
    let hub = FakeHub::start();
    hub.add(
        "models",
        "org/one-GGUF",
        "main",
        snapshot(
            3,
            &[("m.Q4_K_M.gguf", b"GGUF1"), ("README.md", b"")],
            &["m.Q4_K_M.gguf"],
        ),
    );
    hub.add(
        "models",
        "org/two-GGUF",
        "main",
        snapshot(
            4,
            &[("a.Q8_0.gguf", b"GGUFa"), ("b.Q4_0.gguf", b"GGUFb")],
            &[],
        ),
    );
    hub.add(
        "models",
        "org/none",
        "main",
        snapshot(5, &[("README.md", b"")], &[]),
    );
    let cache = tempfile::tempdir().unwrap();
    let c = hub.fake_client(cache.path());
    let ModelFiles::File(f) = c.model(&model("org/one-GGUF")).unwrap() else {
        panic!()
    };
    assert_eq!(std::fs::read(&f).unwrap(), b"GGUF1");
    assert!(f.ends_with("m.Q4_K_M.gguf"));
    let e = c.model(&model("org/two-GGUF")).unwrap_err().to_string();
    assert!(
        e.contains("a.Q8_0.gguf")
            && e.contains("b.Q4_0.gguf")
            && e.contains("hf:org/two-GGUF/FILE.gguf"),
        "{e}"
    );
    let ModelFiles::File(b) = c.model(&model("org/two-GGUF/b.Q4_0.gguf")).unwrap() else {
        panic!()
    };
    assert_eq!(std::fs::read(&b).unwrap(), b"GGUFb");
    let e = c.model(&model("org/none")).unwrap_err().to_string();
    assert!(e.contains("no model files"), "{e}");
}

#[test]
fn dataset_splits_from_the_parquet_branch_and_the_repository() {
    let hub = FakeHub::start();
    // Like HuggingFaceH4/MATH-500: JSONL in the repository, Parquet only on refs/convert/parquet.
    hub.add(
        "datasets",
        "org/math",
        "main",
        snapshot(6, &[("test.jsonl", b"{}"), ("README.md", b"")], &[]),
    );
    hub.add(
        "datasets",
        "org/math",
        "refs/convert/parquet",
        snapshot(
            7,
            &[
                ("default/test/0000.parquet", b"T0"),
                ("default/train/0000.parquet", b"A0"),
                ("default/train/0001.parquet", b"A1"),
            ],
            &[],
        ),
    );
    // Parquet files in the repository itself, two configs.
    hub.add(
        "datasets",
        "org/gsm",
        "main",
        snapshot(
            8,
            &[
                ("main/test-00000-of-00001.parquet", b"MT"),
                ("main/train-00000-of-00001.parquet", b"MA"),
                ("socratic/test-00000-of-00001.parquet", b"ST"),
            ],
            &[],
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let c = hub.fake_client(cache.path());
    let train = c.dataset("org/math", Some("train")).unwrap();
    let bytes: Vec<Vec<u8>> = train.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(bytes, vec![b"A0".to_vec(), b"A1".to_vec()]);
    let root = cache.path().join("datasets--org--math");
    assert_eq!(
        train[0],
        root.join("snapshots")
            .join(commit(7))
            .join("default/train/0000.parquet")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("refs/refs/convert/parquet")).unwrap(),
        commit(7)
    );
    let e = c.dataset("org/math", None).unwrap_err().to_string();
    assert!(
        e.contains("several splits") && e.contains("test, train"),
        "{e}"
    );
    let e = c
        .dataset("org/math", Some("validation"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no split \"validation\""), "{e}");

    let e = c.dataset("org/gsm", Some("test")).unwrap_err().to_string();
    assert!(
        e.contains("several configs") && e.contains("main, socratic"),
        "{e}"
    );
    let t = c.dataset("org/gsm", Some("socratic/test")).unwrap();
    assert_eq!(std::fs::read(&t[0]).unwrap(), b"ST");
}

#[test]
fn missing_and_gated_repositories_give_clear_errors() {
    let hub = FakeHub::start();
    hub.add(
        "models",
        "org/tiny",
        "main",
        snapshot(1, &[("config.json", b"{}")], &[]),
    );
    hub.add(
        "models",
        "org/gated",
        "main",
        snapshot(2, &[("config.json", b"{}")], &[]),
    );
    hub.state.lock().unwrap().gated.insert("org/gated".into());
    let cache = tempfile::tempdir().unwrap();
    let anon = hub.hub(cache.path(), None, 0);

    let e = anon
        .download(&Repo::model("org/nothing"), "config.json")
        .unwrap_err();
    assert!(matches!(e, Error::RepoNotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains("org/nothing: repository not found")
            && e.to_string().contains("HF_TOKEN"),
        "{e}"
    );

    let e = anon
        .download(&Repo::model("org/tiny"), "weights.bin")
        .unwrap_err();
    assert!(matches!(e, Error::EntryNotFound { .. }), "{e:?}");
    assert_eq!(e.to_string(), "org/tiny@main: no file \"weights.bin\"");

    let e = anon
        .download(&Repo::model("org/tiny").at("v9"), "config.json")
        .unwrap_err();
    assert!(matches!(e, Error::RevisionNotFound { .. }), "{e:?}");

    let e = anon.model(&model("org/gated")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthorized {
                status: 401,
                gated: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("no token was sent; set HF_TOKEN"),
        "{e}"
    );

    let wrong = hub.hub(cache.path(), Some("hf_wrong"), 0);
    let e = wrong
        .download(&Repo::model("org/gated"), "config.json")
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthorized {
                status: 403,
                gated: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("accept the repository's conditions"),
        "{e}"
    );

    let ok = hub.hub(cache.path(), Some(TOKEN), 0);
    ok.download(&Repo::model("org/gated"), "config.json")
        .unwrap();
}

#[test]
fn a_cut_download_resumes_with_a_range_request() {
    let hub = FakeHub::start();
    let weights = big(300_000);
    hub.add(
        "models",
        "org/big",
        "main",
        snapshot(
            1,
            &[
                ("config.json", b"{}"),
                ("model.safetensors", &weights),
                ("small.bin", &weights[..50_000]),
            ],
            &["model.safetensors"],
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let blob = cache
        .path()
        .join("models--org--big/blobs")
        .join(etag_of(&weights, 64));

    // No retries: the cut leaves the bytes so far in <blob>.incomplete and says so.
    hub.state
        .lock()
        .unwrap()
        .cuts
        .push(("model.safetensors".into(), 120_000, 1));
    let once = hub.hub(cache.path(), None, 0);
    let e = once
        .download(&Repo::model("org/big"), "model.safetensors")
        .unwrap_err();
    let Error::Interrupted {
        received, partial, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*received, 120_000);
    assert_eq!(
        partial.file_name().unwrap().to_string_lossy(),
        format!("{}.incomplete", etag_of(&weights, 64))
    );
    assert_eq!(std::fs::metadata(partial).unwrap().len(), 120_000);
    assert!(e.to_string().contains("run again to resume"), "{e}");
    assert!(!blob.exists());

    // The next run asks for the rest only.
    let p = once
        .download(&Repo::model("org/big"), "model.safetensors")
        .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), weights);
    let last = hub.downloads().pop().unwrap();
    assert_eq!(last.range.as_deref(), Some("bytes=120000-"), "{last:?}");
    assert!(blob.is_file());
    assert!(!partial.exists());

    // With retries, a cut (here twice, on a file served directly by the hub) is resumed within
    // one call.
    hub.state
        .lock()
        .unwrap()
        .cuts
        .push(("small.bin".into(), 10_000, 2));
    let n = hub.downloads().len();
    let retrying = hub.hub(cache.path(), None, 3);
    let p = retrying
        .download(&Repo::model("org/big"), "small.bin")
        .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), &weights[..50_000]);
    let ranges: Vec<_> = hub.downloads()[n..]
        .iter()
        .map(|l| l.range.clone())
        .collect();
    assert_eq!(
        ranges,
        vec![
            None,
            Some("bytes=10000-".into()),
            Some("bytes=20000-".into())
        ]
    );
}

/// Writes a cache the way huggingface_hub does: blobs by ETag, relative symlinks in the
/// snapshot, refs/main holding the commit.
fn prepopulate(cache: &Path, folder: &str, commit: &str, files: &[(&str, &str, &[u8])]) {
    let root = cache.join(folder);
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    std::fs::create_dir_all(root.join("refs")).unwrap();
    std::fs::write(root.join("refs/main"), commit).unwrap();
    for (path, etag, bytes) in files {
        std::fs::write(root.join("blobs").join(etag), bytes).unwrap();
        let pointer = root.join("snapshots").join(commit).join(path);
        std::fs::create_dir_all(pointer.parent().unwrap()).unwrap();
        let depth = path.split('/').count() + 1;
        let target: PathBuf = std::iter::repeat_n("..", depth)
            .chain(["blobs", etag])
            .collect();
        std::os::unix::fs::symlink(target, &pointer).unwrap();
    }
}

#[test]
fn a_cache_written_by_huggingface_hub_is_used_offline() {
    let cache = tempfile::tempdir().unwrap();
    let c = commit(9);
    prepopulate(
        cache.path(),
        "models--Qwen--Qwen2.5-Math-1.5B",
        &c,
        &[
            ("config.json", &etag_of(b"cfg", 40), b"cfg"),
            ("model.safetensors", &etag_of(b"w", 64), b"w"),
            ("tokenizer.json", &etag_of(b"tok", 40), b"tok"),
        ],
    );
    prepopulate(
        cache.path(),
        "datasets--HuggingFaceH4--MATH-500",
        &commit(10),
        &[("test.jsonl", &etag_of(b"j", 40), b"j")],
    );
    let conv = cache.path().join("datasets--HuggingFaceH4--MATH-500");
    std::fs::create_dir_all(conv.join("refs/refs/convert")).unwrap();
    std::fs::write(conv.join("refs/refs/convert/parquet"), commit(11)).unwrap();
    let shard = conv.join("snapshots").join(commit(11)).join("default/test");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(conv.join("blobs").join(etag_of(b"pq", 40)), b"pq").unwrap();
    std::os::unix::fs::symlink(
        PathBuf::from("../../../../blobs").join(etag_of(b"pq", 40)),
        shard.join("0000.parquet"),
    )
    .unwrap();

    // A port nothing listens on: any request would fail.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let offline = Hub::new(HubOptions {
        endpoint: dead.clone(),
        offline: true,
        ..HubOptions::new(cache.path())
    })
    .unwrap();
    let m = offline.model(&model("Qwen/Qwen2.5-Math-1.5B")).unwrap();
    let dir = cache
        .path()
        .join("models--Qwen--Qwen2.5-Math-1.5B/snapshots")
        .join(&c);
    assert_eq!(m, ModelFiles::Directory(dir.clone()));
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), b"w");
    let d = offline
        .dataset("HuggingFaceH4/MATH-500", Some("test"))
        .unwrap();
    assert_eq!(std::fs::read(&d[0]).unwrap(), b"pq");

    let e = offline
        .download(
            &Repo::model("Qwen/Qwen2.5-Math-1.5B"),
            "generation_config.json",
        )
        .unwrap_err();
    assert!(matches!(e, Error::NotCached { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("offline mode is on (HF_HUB_OFFLINE)"),
        "{e}"
    );
    let e = offline
        .model(&model("Qwen/Qwen2.5-7B"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the file list is not in the cache"), "{e}");

    // Online but the hub is unreachable: the cache answers too; what it lacks names the cause.
    let unreachable = Hub::new(HubOptions {
        endpoint: dead,
        ..HubOptions::new(cache.path())
    })
    .unwrap();
    assert_eq!(
        unreachable.model(&model("Qwen/Qwen2.5-Math-1.5B")).unwrap(),
        ModelFiles::Directory(dir)
    );
    let e = unreachable
        .download(&Repo::model("Qwen/Qwen2.5-7B"), "config.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("the hub could not be reached"), "{e}");
}
