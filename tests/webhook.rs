//! The webhook sink against a small HTTP server in the test: retries through failures, an
//! endpoint that is down at start, and one that refuses events for good.
#![cfg(feature = "webhook")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Answers `fail_first` requests with 503 (or every request with `always`), then 200;
/// collects the JSON bodies.
struct Server {
    port: u16,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(listener: TcpListener, fail_first: usize, always: Option<u16>) -> Server {
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (b, r) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let n = r.fetch_add(1, Ordering::SeqCst);
                let code = always.unwrap_or(if n < fail_first { 503 } else { 200 });
                if code == 200
                    && let Ok(v) = serde_json::from_slice(&body)
                {
                    b.lock().unwrap().push(v);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Server {
            port,
            bodies,
            requests,
        }
    }

    fn seqs(&self) -> Vec<u64> {
        let got = self.bodies.lock().unwrap();
        let mut ids = BTreeSet::new();
        let mut seqs: Vec<u64> = got
            .iter()
            .filter(|v| {
                v["kind"] == "detections" && ids.insert(v["event_id"].as_str().unwrap().to_string())
            })
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        seqs.sort_unstable();
        seqs
    }
}

fn pipeline(dir: &Path, port: u16, count: u64) -> std::path::PathBuf {
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 32\nheight = 32\ncount = {count}\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"webhook\"\nurl = \"http://127.0.0.1:{port}/events\"\n\
             backoff_initial_ms = 20\nbackoff_max_ms = 200\ntimeout_ms = 1000\ndrain_timeout_s = 30.0\nspool_dir = {:?}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    p
}

fn run(p: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["run", p.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn failures_are_retried_until_every_event_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), 5, None);
    let (ok, stderr) = run(&pipeline(dir.path(), server.port, 20));
    assert!(ok, "{stderr}");
    assert_eq!(server.seqs(), (0..20).collect::<Vec<_>>());
    assert!(
        server.requests.load(Ordering::SeqCst) >= 25,
        "the 5 failures were retried"
    );
    assert!(stderr.contains("webhook failed (HTTP 503)"), "{stderr}");
}

#[test]
fn an_endpoint_down_at_start_gets_everything_when_it_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens yet
    let p = pipeline(dir.path(), port, 15);
    let child = std::thread::spawn(move || run(&p));
    std::thread::sleep(Duration::from_millis(800));
    let server = Server::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), 0, None);
    let (ok, stderr) = child.join().unwrap();
    assert!(ok, "{stderr}");
    let end = Instant::now() + Duration::from_secs(5);
    while server.seqs().len() < 15 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.seqs(), (0..15).collect::<Vec<_>>());
}

#[test]
fn a_refusing_endpoint_drops_events_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), 0, Some(400));
    let (ok, stderr) = run(&pipeline(dir.path(), server.port, 3));
    assert!(ok, "{stderr}");
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        3,
        "a 4xx is not retried"
    );
    assert!(
        stderr.contains("the endpoint refused an event for good (HTTP 400); dropped"),
        "{stderr}"
    );
}

#[test]
fn validate_catches_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.toml");
    std::fs::write(
        &p,
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"webhook\"\nurl = \"ftp://x\"\nheaders = { \"Bad Header\" = \"x\" }\ntimeout_ms = 0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["validate", p.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78));
    for w in [
        "`ftp://x` is not an http(s) URL",
        "`Bad Header` is not a header name",
        "invalid `timeout_ms`",
    ] {
        assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
    }
}
