//! `aigne-ci fetch`: downloads from a loopback server (redirects, 304s, 500/429 retries, resets,
//! slow and stalled bodies), unsafe and broken archives built here, the GitHub layout, local
//! sources, concurrent processes on one cache and a killed download.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common;

// ---------------------------------------------------------------------------------------------
// Archives

/// A gzipped tarball of `(path, contents)` files, with the given modes.
fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(if path.ends_with(".sh") { 0o4775 } else { 0o600 });
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *contents).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn project(name: &str) -> Vec<u8> {
    tarball(&[
        (
            "aigne.yaml",
            format!("name: {name}\nagents:\n  - chat.yaml\n").as_bytes(),
        ),
        ("chat.yaml", b"type: ai\ninstructions: hi\n"),
        ("bin/run.sh", b"#!/bin/sh\n"),
    ])
}

/// One raw tar entry: the name is written as is (no checks), so unsafe archives can be built.
struct RawEntry {
    name: &'static [u8],
    kind: tar::EntryType,
    link: &'static [u8],
    data: &'static [u8],
}

fn raw(name: &'static [u8], kind: tar::EntryType, link: &'static [u8]) -> RawEntry {
    RawEntry {
        name,
        kind,
        link,
        data: b"",
    }
}

fn file(name: &'static [u8], data: &'static [u8]) -> RawEntry {
    RawEntry {
        name,
        kind: tar::EntryType::Regular,
        link: b"",
        data,
    }
}

fn raw_tarball(entries: &[RawEntry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
        header.set_entry_type(entry.kind);
        header.set_mode(0o644);
        header.set_size(entry.data.len() as u64);
        if !entry.link.is_empty() {
            header.set_link_name_literal(entry.link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// Loopback server

/// What the server does for one request.
#[derive(Clone)]
enum Behaviour {
    /// 200 with the body, an `ETag` and a `Last-Modified`; 304 when `If-None-Match` matches.
    Serve(Bytes),
    /// This status (with `Retry-After` when given).
    Status(u16, Option<&'static str>),
    /// 302 to this URL.
    Redirect(String),
    /// Announces the full length, sends this many bytes, then breaks the connection.
    ResetAfter(Bytes, usize),
    /// Sends the body in chunks of this size with a pause between them.
    Slow(Bytes, usize, Duration),
    /// Sends this many bytes, then goes silent for a long time.
    Stall(Bytes, usize),
}

#[derive(Clone, Debug)]
struct Logged {
    path: String,
    headers: HashMap<String, String>,
    status: u16,
}

#[derive(Default)]
struct Route {
    queue: VecDeque<Behaviour>,
    default: Option<Behaviour>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Logged>,
}

/// The tarball host, on the shared [`common::server::Loopback`] bootstrap.
struct TarServer {
    server: common::server::Loopback,
    state: Arc<Mutex<State>>,
}

impl TarServer {
    fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = state.clone();
        let server = common::server::Loopback::serve(axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap| handle(server_state.clone(), uri, headers),
        ));
        Self { server, state }
    }

    fn address(&self) -> SocketAddr {
        self.server.address()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Answers `path` with `behaviour` from now on (after anything queued).
    fn route(&self, path: &str, behaviour: Behaviour) {
        let mut state = self.state.lock().unwrap();
        state.routes.entry(path.to_owned()).or_default().default = Some(behaviour);
    }

    /// Answers the next request to `path` with `behaviour`.
    fn queue(&self, path: &str, behaviour: Behaviour) {
        let mut state = self.state.lock().unwrap();
        state
            .routes
            .entry(path.to_owned())
            .or_default()
            .queue
            .push_back(behaviour);
    }

    fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    fn statuses(&self) -> Vec<u16> {
        self.log().iter().map(|logged| logged.status).collect()
    }
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", &sha256(body)[..16])
}

async fn handle(state: Arc<Mutex<State>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let behaviour = {
        let mut state = state.lock().unwrap();
        state
            .routes
            .get_mut(&path)
            .and_then(|route| route.queue.pop_front().or_else(|| route.default.clone()))
    };
    let header_map: HashMap<String, String> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let response = match behaviour {
        None => status_response(404, None),
        Some(Behaviour::Status(code, retry_after)) => status_response(code, retry_after),
        Some(Behaviour::Redirect(location)) => Response::builder()
            .status(302)
            .header("location", location)
            .body(Body::empty())
            .unwrap(),
        Some(Behaviour::Serve(body)) => {
            let etag = etag_of(&body);
            if header_map.get("if-none-match") == Some(&etag) {
                Response::builder()
                    .status(304)
                    .header("etag", etag)
                    .body(Body::empty())
                    .unwrap()
            } else {
                Response::builder()
                    .status(200)
                    .header("etag", etag)
                    .header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
                    .header("content-length", body.len())
                    .body(Body::from(body))
                    .unwrap()
            }
        }
        Some(Behaviour::ResetAfter(body, cut)) => {
            let length = body.len();
            let first = body.slice(..cut);
            // Pause so the headers and the first part go out before the connection breaks.
            let stream = futures::stream::unfold(0u8, move |step| {
                let first = first.clone();
                async move {
                    match step {
                        0 => Some((Ok::<Bytes, std::io::Error>(first), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Some((Err(std::io::Error::other("reset")), 2))
                        }
                        _ => None,
                    }
                }
            });
            Response::builder()
                .status(200)
                .header("content-length", length)
                .body(Body::from_stream(stream))
                .unwrap()
        }
        Some(Behaviour::Slow(body, _, _))
            if header_map.get("if-none-match") == Some(&etag_of(&body)) =>
        {
            Response::builder()
                .status(304)
                .header("etag", etag_of(&body))
                .body(Body::empty())
                .unwrap()
        }
        Some(Behaviour::Slow(body, chunk, pause)) => {
            let length = body.len();
            let chunks: Vec<Bytes> = (0..length)
                .step_by(chunk)
                .map(|start| body.slice(start..(start + chunk).min(length)))
                .collect();
            let stream =
                futures::stream::unfold(chunks.into_iter(), move |mut chunks| async move {
                    let next = chunks.next()?;
                    tokio::time::sleep(pause).await;
                    Some((Ok::<Bytes, std::io::Error>(next), chunks))
                });
            Response::builder()
                .status(200)
                .header("etag", etag_of(&body))
                .header("content-length", length)
                .body(Body::from_stream(stream))
                .unwrap()
        }
        Some(Behaviour::Stall(body, cut)) => {
            let length = body.len();
            let first = body.slice(..cut);
            let stream = futures::stream::unfold(0u8, move |step| {
                let first = first.clone();
                async move {
                    match step {
                        0 => Some((Ok::<Bytes, std::io::Error>(first), 1)),
                        _ => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            None
                        }
                    }
                }
            });
            Response::builder()
                .status(200)
                .header("content-length", length)
                .body(Body::from_stream(stream))
                .unwrap()
        }
    };
    state.lock().unwrap().log.push(Logged {
        path,
        headers: header_map,
        status: response.status().as_u16(),
    });
    response
}

fn status_response(code: u16, retry_after: Option<&'static str>) -> Response {
    let mut builder = Response::builder().status(StatusCode::from_u16(code).unwrap());
    if let Some(retry_after) = retry_after {
        builder = builder.header("retry-after", retry_after);
    }
    builder
        .body(Body::from(format!("<html>error {code}</html>")))
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Running the binary

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = common::command(self.path());
        command.arg("fetch").args(args);
        command.arg("--cache-dir").arg(self.cache());
        command
    }

    fn fetch(&self, args: &[&str]) -> common::Ran {
        common::run(&mut self.command(args))
    }

    /// Runs and expects success; returns the JSON on stdout.
    fn ok(&self, args: &[&str]) -> Value {
        let ran = self.fetch(args);
        assert_eq!(ran.code, Some(0), "stderr:\n{}", ran.stderr);
        serde_json::from_str(&ran.stdout).unwrap_or_else(|error| {
            panic!("stdout is JSON ({error}):\n{}", ran.stdout);
        })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, bytes).unwrap();
        path
    }

    /// Every file and folder name under the cache.
    fn cache_listing(&self) -> Vec<String> {
        let mut names = Vec::new();
        list(&self.cache(), &self.cache(), &mut names);
        names.sort();
        names
    }

    /// Committed entries (folders holding `entry.json`).
    fn committed_entries(&self) -> Vec<String> {
        self.cache_listing()
            .into_iter()
            .filter(|name| name.ends_with("/entry.json"))
            .collect()
    }

    fn temporary_folders(&self) -> Vec<String> {
        self.cache_listing()
            .into_iter()
            .filter(|name| name.contains(".tmp-") || name.contains(".old-"))
            .collect()
    }
}

fn list(root: &Path, dir: &Path, names: &mut Vec<String>) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        names.push(path.strip_prefix(root).unwrap().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            list(root, &path, names);
        }
    }
}

fn str_field<'a>(json: &'a Value, key: &str) -> &'a str {
    json[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is a string in {json}"))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn cold_then_warm_runs_reuse_the_cache() {
    let server = TarServer::start();
    let body = project("demo");
    server.route("/o/demo.tgz", Behaviour::Serve(Bytes::from(body.clone())));
    let fixture = Fixture::new();
    let url = server.url("/o/demo.tgz");

    let cold = fixture.ok(&[&url]);
    assert_eq!(cold["source"], url.as_str());
    assert_eq!(cold["kind"], "url");
    assert_eq!(cold["sha256"], sha256(&body).as_str());
    assert_eq!(cold["bytes"], body.len() as u64);
    assert_eq!(cold["cache_hit"], false);
    assert_eq!(cold["requests"], 1);
    let cache_key = str_field(&cold, "cache_key");
    assert!(
        cache_key.starts_with("aigne-ci-projects-v1-"),
        "{cache_key}"
    );
    assert!(cache_key.ends_with(&sha256(&body)), "{cache_key}");
    let project_dir = PathBuf::from(str_field(&cold, "project_dir"));
    assert_eq!(
        fs_err::read_to_string(project_dir.join("aigne.yaml")).unwrap(),
        "name: demo\nagents:\n  - chat.yaml\n"
    );
    // Readable entry path: <cache>/projects-v1/<host>_<port>/<url path>/<key>/files.
    let cache = fs_err::canonicalize(fixture.cache()).unwrap();
    let relative = project_dir.strip_prefix(&cache).unwrap();
    let host = format!("127.0.0.1_{}", server.address().port());
    assert!(
        relative.starts_with(Path::new("projects-v1").join(&host).join("o/demo.tgz")),
        "{}",
        relative.display()
    );
    assert!(relative.ends_with("files"), "{}", relative.display());
    // Only the executable bit of modes is kept.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            fs_err::metadata(project_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("bin/run.sh"), 0o755);
        assert_eq!(mode("chat.yaml"), 0o644);
    }
    assert!(fixture.cache().join("CACHEDIR.TAG").is_file());
    assert_eq!(
        fs_err::read_to_string(fixture.cache().join(".gitignore")).unwrap(),
        "*\n"
    );
    let metadata: Value = serde_json::from_slice(
        &fs_err::read(project_dir.parent().unwrap().join("entry.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(metadata["url"], url.as_str());
    assert_eq!(metadata["etag"], etag_of(&body).as_str());
    assert_eq!(metadata["last_modified"], "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_eq!(metadata["sha256"], sha256(&body).as_str());
    assert_eq!(metadata["size"], body.len() as u64);
    assert_eq!(metadata["fetched_at"], cold["fetched_at"]);
    assert_eq!(server.statuses(), vec![200]);
    assert_eq!(server.log()[0].headers.get("if-none-match"), None);

    // Unpinned warm run: one conditional request, answered 304, no body.
    let warm = fixture.ok(&[&url]);
    assert_eq!(warm["cache_hit"], true);
    assert_eq!(warm["requests"], 1);
    assert_eq!(warm["project_dir"], cold["project_dir"]);
    assert_eq!(warm["cache_key"], cold["cache_key"]);
    assert_eq!(warm["fetched_at"], cold["fetched_at"]);
    let log = server.log();
    assert_eq!(server.statuses(), vec![200, 304]);
    assert_eq!(log[1].headers.get("if-none-match"), Some(&etag_of(&body)));
    assert_eq!(
        log[1].headers.get("if-modified-since").map(String::as_str),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );

    // Pinned warm run: no request at all.
    let pinned = fixture.ok(&[&url, "--sha256", &sha256(&body).to_uppercase()]);
    assert_eq!(pinned["cache_hit"], true);
    assert_eq!(pinned["requests"], 0);
    assert_eq!(server.log().len(), 2);

    // Offline: no request either.
    let offline = fixture.ok(&[&url, "--offline"]);
    assert_eq!(offline["cache_hit"], true);
    assert_eq!(server.log().len(), 2);

    // Refresh: a plain request and a new download.
    let refreshed = fixture.ok(&[&url, "--refresh"]);
    assert_eq!(refreshed["cache_hit"], false);
    assert_eq!(server.statuses(), vec![200, 304, 200]);
    assert_eq!(server.log()[2].headers.get("if-none-match"), None);
    assert_eq!(fixture.committed_entries().len(), 1);
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
}

#[test]
fn changed_upstream_is_downloaded_again() {
    let server = TarServer::start();
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(project("one"))));
    let fixture = Fixture::new();
    let url = server.url("/p.tgz");
    let first = fixture.ok(&[&url]);
    let two = project("two");
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(two.clone())));
    let second = fixture.ok(&[&url]);
    assert_eq!(second["cache_hit"], false);
    assert_eq!(second["sha256"], sha256(&two).as_str());
    assert_ne!(second["cache_key"], first["cache_key"]);
    let project_dir = PathBuf::from(str_field(&second, "project_dir"));
    assert!(
        fs_err::read_to_string(project_dir.join("aigne.yaml"))
            .unwrap()
            .starts_with("name: two")
    );
    assert_eq!(server.statuses(), vec![200, 200]);
    assert_eq!(fixture.committed_entries().len(), 1);
}

#[test]
fn checksum_mismatch_exits_3_and_keeps_the_cached_entry() {
    let server = TarServer::start();
    let one = project("one");
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(one.clone())));
    let fixture = Fixture::new();
    let url = server.url("/p.tgz");
    let first = fixture.ok(&[&url]);
    let entry_json = PathBuf::from(str_field(&first, "entry_dir"))
        .parent()
        .unwrap()
        .join("entry.json");
    let before = fs_err::read(&entry_json).unwrap();

    server.route("/p.tgz", Behaviour::Serve(Bytes::from(project("evil"))));
    let wrong = "0".repeat(64);
    let ran = fixture.fetch(&[&url, "--sha256", &wrong]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "expected `{wrong}`, got `{}`",
            sha256(&project("evil"))
        )),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("hint: "), "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    // The old entry is untouched and no half-made entry is left.
    assert_eq!(fs_err::read(&entry_json).unwrap(), before);
    let project_dir = PathBuf::from(str_field(&first, "project_dir"));
    assert!(
        fs_err::read_to_string(project_dir.join("aigne.yaml"))
            .unwrap()
            .starts_with("name: one")
    );
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
    // A pin of the cached content still works without a request.
    let requests = server.log().len();
    let pinned = fixture.ok(&[&url, "--sha256", &sha256(&one)]);
    assert_eq!(pinned["cache_hit"], true);
    assert_eq!(server.log().len(), requests);
}

#[test]
fn usage_errors_exit_2() {
    let fixture = Fixture::new();
    let ran = fixture.fetch(&["http://127.0.0.1:9/p.tgz", "--sha256", "abc"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("`--sha256 abc` is not a sha256 digest"),
        "{}",
        ran.stderr
    );

    let ran = fixture.fetch(&["no/such/folder"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("does not exist"), "{}", ran.stderr);

    let ran = fixture.fetch(&["ftp://user:hunter2@example.com/p.tgz"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("scheme `ftp`"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);

    fixture.write("proj/aigne.yaml", b"name: p\n");
    let ran = fixture.fetch(&["proj", "--sha256", &"a".repeat(64)]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);

    let ran = fixture.fetch(&["proj", "--subdir", "../x"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("relative path"), "{}", ran.stderr);
}

#[test]
fn offline_without_a_cached_copy_exits_3() {
    let server = TarServer::start();
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(project("p"))));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&server.url("/p.tgz"), "--offline"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("no cached copy of"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("hint: run once without `--offline`"),
        "{}",
        ran.stderr
    );
    assert!(server.log().is_empty());
}

#[test]
fn transient_statuses_are_retried() {
    let server = TarServer::start();
    let body = project("p");
    server.queue("/p.tgz", Behaviour::Status(500, None));
    server.queue("/p.tgz", Behaviour::Status(502, None));
    server.queue("/p.tgz", Behaviour::Status(429, Some("7")));
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(body.clone())));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&server.url("/p.tgz")]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let json: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(json["requests"], 4);
    assert_eq!(json["sha256"], sha256(&body).as_str());
    assert_eq!(server.statuses(), vec![500, 502, 429, 200]);
    assert!(ran.stderr.contains("attempt 1 at"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("500 Internal Server Error"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "failed: 429 Too Many Requests; retrying in 0.0s (the server asked for Retry-After 7s)"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn retries_run_out_with_the_status_and_attempts_named() {
    let server = TarServer::start();
    server.route("/p.tgz", Behaviour::Status(503, None));
    let fixture = Fixture::new();
    let url = format!("http://user:pass@{}/p.tgz?token=abc&x=1", server.address());
    let ran = fixture.fetch(&[&url, "--http-retries", "2"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert_eq!(server.statuses(), vec![503, 503, 503]);
    let expected = format!(
        "error: downloading `http://user:****@{}/p.tgz?token=****&x=1` failed with status `503 Service Unavailable` after 3 attempt(s): <html>error 503</html>",
        server.address()
    );
    assert!(ran.stderr.contains(&expected), "{}", ran.stderr);
    assert!(!ran.stderr.contains("pass"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("abc"), "{}", ran.stderr);
}

#[test]
fn not_found_is_not_retried() {
    let server = TarServer::start();
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&server.url("/missing.tgz")]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert_eq!(server.statuses(), vec![404]);
    assert!(
        ran.stderr.contains("`404 Not Found` after 1 attempt(s)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: if the archive is private, pass `--token`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = common::server::free_port();
    let fixture = Fixture::new();
    let url = format!("http://127.0.0.1:{port}/p.tgz");
    let ran = fixture.fetch(&[&url, "--http-retries", "1"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "error: cannot download `{url}` after 2 attempt(s)"
        )),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("Caused by:"), "{}", ran.stderr);
}

#[test]
fn a_reset_mid_body_is_retried() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[
        ("aigne.yaml", b"name: big\n"),
        ("data.bin", &pseudo_random(200_000)),
    ]));
    server.queue(
        "/p.tgz",
        Behaviour::ResetAfter(body.clone(), body.len() / 2),
    );
    server.route("/p.tgz", Behaviour::Serve(body.clone()));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&server.url("/p.tgz")]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let json: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(json["sha256"], sha256(&body).as_str());
    assert_eq!(json["requests"], 2);
    assert!(
        ran.stderr.contains("the body broke off after"),
        "{}",
        ran.stderr
    );
    let project_dir = PathBuf::from(str_field(&json, "project_dir"));
    assert_eq!(
        fs_err::read(project_dir.join("data.bin")).unwrap(),
        pseudo_random(200_000)
    );
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
}

#[test]
fn resets_until_retries_run_out_exit_3() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[("data.bin", &pseudo_random(100_000))]));
    server.route("/p.tgz", Behaviour::ResetAfter(body.clone(), 1000));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&server.url("/p.tgz"), "--http-retries", "1"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("broke off after"), "{}", ran.stderr);
    assert!(ran.stderr.contains("after 2 attempt(s)"), "{}", ran.stderr);
    assert_eq!(fixture.committed_entries(), Vec::<String>::new());
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
}

#[test]
fn a_slow_body_arrives_whole() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[
        ("aigne.yaml", b"name: slow\n"),
        ("data.bin", &pseudo_random(40_000)),
    ]));
    server.route(
        "/p.tgz",
        Behaviour::Slow(body.clone(), 4096, Duration::from_millis(15)),
    );
    let fixture = Fixture::new();
    let json = fixture.ok(&[&server.url("/p.tgz"), "--read-timeout", "2s"]);
    assert_eq!(json["sha256"], sha256(&body).as_str());
    assert_eq!(json["requests"], 1);
}

#[test]
fn a_stalled_body_hits_the_read_timeout() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[("data.bin", &pseudo_random(50_000))]));
    server.route("/p.tgz", Behaviour::Stall(body, 2000));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[
        &server.url("/p.tgz"),
        "--read-timeout",
        "300ms",
        "--http-retries",
        "1",
    ]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("broke off after 2000 bytes, after 2 attempt(s)"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.log().len(), 2);
}

#[test]
fn redirects_are_followed_and_the_token_stays_on_its_host() {
    let origin = TarServer::start();
    let mirror = TarServer::start();
    let body = project("moved");
    mirror.route("/real.tgz", Behaviour::Serve(Bytes::from(body.clone())));
    origin.route("/same.tgz", Behaviour::Redirect("/moved.tgz".to_owned()));
    origin.route("/moved.tgz", Behaviour::Redirect(mirror.url("/real.tgz")));
    let fixture = Fixture::new();
    let ran = fixture.fetch(&[&origin.url("/same.tgz"), "--token", "s3cr3t-token"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let json: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(json["final_url"], mirror.url("/real.tgz").as_str());
    assert_eq!(json["sha256"], sha256(&body).as_str());
    let origin_log = origin.log();
    assert_eq!(origin_log.len(), 2);
    for logged in &origin_log {
        assert_eq!(
            logged.headers.get("authorization").map(String::as_str),
            Some("Bearer s3cr3t-token"),
            "{}",
            logged.path
        );
    }
    let mirror_log = mirror.log();
    assert_eq!(mirror_log.len(), 1);
    assert_eq!(mirror_log[0].headers.get("authorization"), None);
    assert!(!ran.stdout.contains("s3cr3t") && !ran.stderr.contains("s3cr3t"));
    let cache_text = fixture
        .cache_listing()
        .iter()
        .filter(|name| name.ends_with("entry.json"))
        .map(|name| fs_err::read_to_string(fixture.cache().join(name)).unwrap())
        .collect::<String>();
    assert!(!cache_text.contains("s3cr3t"), "{cache_text}");

    // A refused token is reported without the token.
    origin.route("/private.tgz", Behaviour::Status(401, None));
    let ran = fixture.fetch(&[&origin.url("/private.tgz"), "--token", "s3cr3t-token"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("hint: the token was refused"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("s3cr3t"), "{}", ran.stderr);
}

#[test]
fn github_token_goes_only_to_github_hosts() {
    let server = TarServer::start();
    server.route("/p.tgz", Behaviour::Serve(Bytes::from(project("p"))));
    let fixture = Fixture::new();
    let ran = common::run(
        fixture
            .command(&[&server.url("/p.tgz")])
            .env("GITHUB_TOKEN", "ghs_not_for_you"),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(server.log()[0].headers.get("authorization"), None);
}

#[test]
fn unsafe_archives_exit_3_naming_the_entry() {
    use tar::EntryType::{Block, Char, Directory, Fifo, Link, Symlink};
    let cases: Vec<(&str, Vec<RawEntry>, &str, &str)> = vec![
        (
            "absolute",
            vec![file(b"/tmp/aigne-ci-escape", b"x")],
            "/tmp/aigne-ci-escape",
            "the path is absolute",
        ),
        (
            "dotdot",
            vec![file(b"../escape.txt", b"x")],
            "../escape.txt",
            "the path contains `..`",
        ),
        (
            "dotdot-inside",
            vec![file(b"a/../../escape.txt", b"x")],
            "a/../../escape.txt",
            "`..`",
        ),
        (
            "symlink-up",
            vec![raw(b"link", Symlink, b"../../../etc")],
            "link",
            "symlink to `../../../etc` leaves the archive",
        ),
        (
            "symlink-absolute",
            vec![raw(b"link", Symlink, b"/etc/passwd")],
            "link",
            "leaves the archive",
        ),
        (
            "symlink-then-write-through",
            vec![
                raw(b"d", Directory, b""),
                raw(b"d/up", Symlink, b".."),
                raw(b"d/up2", Symlink, b"up/.."),
            ],
            "d/up2",
            "leaves the archive",
        ),
        (
            "symlink-chain",
            vec![
                raw(b"a/b", Directory, b""),
                raw(b"x", Symlink, b"a/b/y/.."),
                raw(b"a/b/y", Symlink, b"../.."),
            ],
            "x",
            "resolves outside the archive",
        ),
        (
            "hardlink-up",
            vec![raw(b"hard", Link, b"../../outside.txt")],
            "hard",
            "hardlink target the path contains `..`",
        ),
        (
            "hardlink-absolute",
            vec![raw(b"hard", Link, b"/etc/passwd")],
            "hard",
            "the path is absolute",
        ),
        (
            "char-device",
            vec![raw(b"dev", Char, b"")],
            "dev",
            "device entries are not allowed",
        ),
        (
            "block-device",
            vec![raw(b"dev", Block, b"")],
            "dev",
            "device entries are not allowed",
        ),
        (
            "fifo",
            vec![raw(b"pipe", Fifo, b"")],
            "pipe",
            "fifo entries are not allowed",
        ),
    ];
    let fixture = Fixture::new();
    for (name, entries, entry, reason) in cases {
        let mut entries = entries;
        entries.insert(0, file(b"aigne.yaml", b"name: evil\n"));
        let path = fixture.write(&format!("{name}.tgz"), &raw_tarball(&entries));
        let ran = fixture.fetch(&[path.to_str().unwrap()]);
        assert_eq!(ran.code, Some(3), "{name}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(&format!("unsafe entry `{entry}`")),
            "{name}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains(reason), "{name}: {}", ran.stderr);
        assert_eq!(fixture.committed_entries(), Vec::<String>::new(), "{name}");
        assert_eq!(fixture.temporary_folders(), Vec::<String>::new(), "{name}");
    }
    assert!(!Path::new("/tmp/aigne-ci-escape").exists());
    assert!(!fixture.path().join("escape.txt").exists());

    // Links that stay inside are fine, and so is a hardlink to an earlier file.
    let good = fixture.write(
        "good.tgz",
        &raw_tarball(&[
            file(b"aigne.yaml", b"name: ok\n"),
            raw(b"docs", Directory, b""),
            raw(b"docs/manifest.yaml", Symlink, b"../aigne.yaml"),
            raw(b"copy.yaml", Link, b"aigne.yaml"),
        ]),
    );
    let json = fixture.ok(&[good.to_str().unwrap()]);
    let project_dir = PathBuf::from(str_field(&json, "project_dir"));
    assert_eq!(
        fs_err::read_to_string(project_dir.join("docs/manifest.yaml")).unwrap(),
        "name: ok\n"
    );
    assert_eq!(
        fs_err::read_to_string(project_dir.join("copy.yaml")).unwrap(),
        "name: ok\n"
    );
}

#[test]
fn bombs_and_broken_archives_exit_3() {
    let fixture = Fixture::new();
    // A large declared entry.
    let zeros = vec![0u8; 2 << 20];
    let bomb = fixture.write(
        "bomb.tgz",
        &tarball(&[("aigne.yaml", b"x"), ("zeros.bin", &zeros)]),
    );
    assert!(fs_err::metadata(&bomb).unwrap().len() < 100_000);
    let ran = fixture.fetch(&[bomb.to_str().unwrap(), "--max-unpacked-bytes", "1000000"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("unpacks to more than 1000000 bytes (at entry `zeros.bin`)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("hint: raise `--max-unpacked-bytes`"),
        "{}",
        ran.stderr
    );

    // Padding after the end of the archive that decompresses to far more than the limit.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    builder
        .append_data(&mut header, "aigne.yaml", &b"x\n"[..])
        .unwrap();
    let mut tar_bytes = builder.into_inner().unwrap();
    tar_bytes.extend(vec![0u8; 4 << 20]);
    let padded = fixture.write("padded.tgz", &gzip(&tar_bytes));
    let ran = fixture.fetch(&[
        padded.to_str().unwrap(),
        "--max-unpacked-bytes",
        "1000000",
        "--max-entries",
        "10",
    ]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unpacks to more than 1000000 bytes"),
        "{}",
        ran.stderr
    );

    // Too many entries.
    let names: Vec<String> = (0..30).map(|index| format!("f{index}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|name| (name.as_str(), &b"x"[..]))
        .collect();
    let many = fixture.write("many.tgz", &tarball(&files));
    let ran = fixture.fetch(&[many.to_str().unwrap(), "--max-entries", "10"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("has more than 10 entries"),
        "{}",
        ran.stderr
    );

    // A truncated gzip.
    let whole = tarball(&[("aigne.yaml", b"x"), ("data.bin", &pseudo_random(300_000))]);
    let truncated = fixture.write("truncated.tgz", &whole[..whole.len() / 2]);
    let ran = fixture.fetch(&[truncated.to_str().unwrap()]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is corrupt at entry `data.bin`"),
        "{}",
        ran.stderr
    );

    // A body that is not a tar archive, over HTTP.
    let server = TarServer::start();
    server.route(
        "/page.tgz",
        Behaviour::Serve(Bytes::from_static(
            b"<!DOCTYPE html><html><body>a repository page</body></html>",
        )),
    );
    let ran = fixture.fetch(&[&server.url("/page.tgz")]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is not a tar archive"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: the URL must point at a `.tar.gz`"),
        "{}",
        ran.stderr
    );
    // Garbage that starts with the gzip magic.
    server.route(
        "/bad.tgz",
        Behaviour::Serve(Bytes::from_static(b"\x1f\x8b\x08\x00garbage-garbage")),
    );
    let ran = fixture.fetch(&[&server.url("/bad.tgz")]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert_eq!(server.log().len(), 2, "archive errors are not retried");
    assert_eq!(fixture.committed_entries(), Vec::<String>::new());
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
}

#[test]
fn plain_tar_is_accepted() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(8);
    builder
        .append_data(&mut header, "aigne.yml", &b"name: t\n"[..])
        .unwrap();
    let plain = builder.into_inner().unwrap();
    let server = TarServer::start();
    server.route("/p.tar", Behaviour::Serve(Bytes::from(plain.clone())));
    let fixture = Fixture::new();
    let json = fixture.ok(&[&server.url("/p.tar")]);
    assert_eq!(json["sha256"], sha256(&plain).as_str());
    assert!(
        PathBuf::from(str_field(&json, "project_dir"))
            .join("aigne.yml")
            .is_file()
    );
}

#[test]
fn github_layout_and_subdir() {
    let server = TarServer::start();
    let single = tarball(&[
        ("repo-0123abc/aigne.yaml", b"name: root\n"),
        ("repo-0123abc/README.md", b"readme"),
    ]);
    let monorepo = tarball(&[
        ("repo-0123abc/README.md", b"readme"),
        ("repo-0123abc/examples/a/aigne.yaml", b"name: a\n"),
        ("repo-0123abc/examples/b/aigne.yml", b"name: b\n"),
    ]);
    server.route("/single.tar.gz", Behaviour::Serve(Bytes::from(single)));
    server.route("/mono.tar.gz", Behaviour::Serve(Bytes::from(monorepo)));
    let fixture = Fixture::new();

    let json = fixture.ok(&[&server.url("/single.tar.gz")]);
    let project_dir = PathBuf::from(str_field(&json, "project_dir"));
    assert!(
        project_dir.ends_with("files/repo-0123abc"),
        "{}",
        project_dir.display()
    );

    let ran = fixture.fetch(&[&server.url("/mono.tar.gz")]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "hint: `aigne.yaml` files exist in: `repo-0123abc/examples/a`, `repo-0123abc/examples/b`; pass one of them with `--subdir`"
        ),
        "{}",
        ran.stderr
    );

    let json = fixture.ok(&[&server.url("/mono.tar.gz"), "--subdir", "examples/b"]);
    let project_dir = PathBuf::from(str_field(&json, "project_dir"));
    assert!(
        project_dir.ends_with("repo-0123abc/examples/b"),
        "{}",
        project_dir.display()
    );
    assert_eq!(
        json["cache_hit"], true,
        "the archive was cached by the run that found no project"
    );

    let ran = fixture.fetch(&[&server.url("/mono.tar.gz"), "--subdir", "examples/c"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("under `--subdir examples/c`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn local_sources() {
    let fixture = Fixture::new();
    fixture.write("proj/aigne.yaml", b"name: local\n");
    let real = fs_err::canonicalize(fixture.path().join("proj")).unwrap();

    // A folder is used in place.
    let json = fixture.ok(&["proj"]);
    assert_eq!(json["kind"], "folder");
    assert_eq!(json["project_dir"], real.to_str().unwrap());
    assert_eq!(json["sha256"], Value::Null);
    assert_eq!(json["cache_key"], Value::Null);
    assert_eq!(json["cache_hit"], false);
    assert!(!fixture.cache().join("projects-v1").exists());

    // So is the folder of an `aigne.yaml`, and a file:// URL of a folder.
    let json = fixture.ok(&["proj/aigne.yaml"]);
    assert_eq!(json["project_dir"], real.to_str().unwrap());
    let file_url = format!("file://{}", real.display());
    let json = fixture.ok(&[&file_url]);
    assert_eq!(json["project_dir"], real.to_str().unwrap());

    // A local tarball is unpacked into the cache, then reused while it does not change.
    let body = project("packed");
    let tarball_path = fixture.write("packed.tgz", &body);
    let json = fixture.ok(&["packed.tgz"]);
    assert_eq!(json["kind"], "tarball");
    assert_eq!(json["cache_hit"], false);
    assert_eq!(json["sha256"], sha256(&body).as_str());
    let project_dir = PathBuf::from(str_field(&json, "project_dir"));
    assert!(project_dir.starts_with(fs_err::canonicalize(fixture.cache()).unwrap()));
    assert!(project_dir.join("aigne.yaml").is_file());
    let again = fixture.ok(&[&format!("file://{}", tarball_path.display())]);
    assert_eq!(again["cache_hit"], true);
    assert_eq!(again["project_dir"], json["project_dir"]);
    // A pin that does not match exits 3.
    let ran = fixture.fetch(&["packed.tgz", "--sha256", &"1".repeat(64), "--refresh"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("sha256 mismatch"), "{}", ran.stderr);
}

#[test]
fn concurrent_processes_download_once() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[
        ("aigne.yaml", b"name: shared\n"),
        ("data.bin", &pseudo_random(60_000)),
    ]));
    // Slow enough that every process starts while the first still downloads.
    server.route(
        "/p.tgz",
        Behaviour::Slow(body.clone(), 8192, Duration::from_millis(40)),
    );
    let fixture = Fixture::new();
    let url = server.url("/p.tgz");
    let children: Vec<_> = (0..4)
        .map(|_| {
            fixture
                .command(&[&url])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut project_dirs = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["sha256"], sha256(&body).as_str());
        project_dirs.push(json["project_dir"].clone());
    }
    project_dirs.dedup();
    assert_eq!(project_dirs.len(), 1);
    let mut statuses = server.statuses();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 304, 304, 304],
        "one download, then revalidations"
    );
    assert_eq!(fixture.committed_entries().len(), 1);
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
}

#[test]
fn a_killed_download_leaves_nothing_a_later_run_uses() {
    let server = TarServer::start();
    let body = Bytes::from(tarball(&[
        ("aigne.yaml", b"name: killed\n"),
        ("data.bin", &pseudo_random(100_000)),
    ]));
    server.route("/p.tgz", Behaviour::Stall(body.clone(), 30_000));
    let fixture = Fixture::new();
    let url = server.url("/p.tgz");
    let mut child = fixture
        .command(&[&url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server has sent the first part and the child has unpacked some of it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fixture
        .temporary_folders()
        .iter()
        .all(|name| !name.ends_with("aigne.yaml"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fixture.committed_entries(), Vec::<String>::new());
    assert!(!fixture.temporary_folders().is_empty());

    // Offline finds nothing; a good run downloads and cleans up the leftovers.
    let ran = fixture.fetch(&[&url, "--offline"]);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    server.route("/p.tgz", Behaviour::Serve(body.clone()));
    let json = fixture.ok(&[&url]);
    assert_eq!(json["cache_hit"], false);
    assert_eq!(json["sha256"], sha256(&body).as_str());
    assert_eq!(fixture.temporary_folders(), Vec::<String>::new());
    assert_eq!(fixture.committed_entries().len(), 1);
}

/// Deterministic incompressible bytes.
fn pseudo_random(length: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
