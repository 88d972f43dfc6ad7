//! The webhook sink against a small HTTP server in the test: retries through failures, an
//! endpoint that is down at start, and one that refuses events for good.
#![cfg(feature = "webhook")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

mod support;
use support::{run, validate};

/// Answers `fail_first` requests with 503 (or every request with `always`), then 200;
/// collects the JSON bodies.
struct Server {
    port: u16,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(listener: TcpListener, fail_first: usize, always: Option<u16>) -> Server {
        Server::start_with(listener, fail_first, always, None)
    }

    /// With `tls`: HTTPS (rustls on the server side; failed handshakes are not requests).
    fn start_with(
        listener: TcpListener,
        fail_first: usize,
        always: Option<u16>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Server {
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (b, r) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let stream: Box<dyn ReadWrite> = match &tls {
                    None => Box::new(tcp),
                    Some(cfg) => {
                        let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                        let mut s = rustls::StreamOwned::new(conn, tcp);
                        if s.conn.complete_io(&mut s.sock).is_err() {
                            continue;
                        }
                        Box::new(s)
                    }
                };
                let mut reader = BufReader::new(stream);
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
                let stream = reader.get_mut();
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
             backoff_initial_ms = 20\nbackoff_max_ms = 200\ntimeout_ms = 1000\nspool = {{ drain_timeout_s = 30.0, dir = {:?} }}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    p
}

/// A rustls server config with `support::make_certs`' server certificate.
fn server_tls(dir: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(cfg)
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
    let (code, stderr) = validate(&p, false);
    assert_eq!(code, Some(78));
    for w in [
        "`ftp://x` is not an http(s) URL",
        "`Bad Header` is not a header name",
        "invalid `timeout_ms`",
    ] {
        assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
    }
}

#[test]
fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    support::make_certs(dir.path());
    let tls = server_tls(dir.path());
    let server = Server::start_with(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        0,
        None,
        Some(tls.clone()),
    );
    let p = pipeline(dir.path(), server.port, 10);
    let https = std::fs::read_to_string(&p)
        .unwrap()
        .replace("http://", "https://");
    let ca = |file: &str| {
        format!(
            "tls = {{ ca_file = {:?} }}\n",
            dir.path().join(file).display().to_string()
        )
    };
    std::fs::write(&p, https.clone() + &ca("ca.pem")).unwrap();
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
    assert_eq!(server.seqs(), (0..10).collect::<Vec<_>>());

    // A server whose certificate our CA did not sign: nothing is delivered, the reason is
    // logged, and the events stay in the spool (a later run with the right CA sends them).
    let dir2 = tempfile::tempdir().unwrap();
    support::make_certs(dir2.path());
    let stranger = Server::start_with(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        0,
        None,
        Some(server_tls(dir2.path())),
    );
    let wrong = https
        .replace(
            &format!(":{}/", server.port),
            &format!(":{}/", stranger.port),
        )
        .replace("drain_timeout_s = 30.0", "drain_timeout_s = 1.0")
        .replace("count = 10", "count = 4");
    std::fs::write(&p, wrong.clone() + &ca("ca.pem")).unwrap();
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("webhook failed"), "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate") && stderr.contains("check `tls.ca_file`"),
        "{stderr}"
    );
    assert!(stranger.seqs().is_empty());
    std::fs::write(
        &p,
        wrong
            .replace("count = 4", "count = 0")
            .replace("drain_timeout_s = 1.0", "drain_timeout_s = 30.0")
            + &format!(
                "tls = {{ ca_file = {:?} }}\n",
                dir2.path().join("ca.pem").display().to_string()
            ),
    )
    .unwrap();
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
    assert_eq!(stranger.seqs(), (0..4).collect::<Vec<_>>());
}

#[test]
fn validate_checks_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.toml");
    let check = |url: &str, want: &str| {
        std::fs::write(
            &p,
            format!("[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"webhook\"\nurl = \"{url}\"\ntls = {{ ca_file = \"/nonexistent/ca.pem\" }}\n"),
        )
        .unwrap();
        let (code, stderr) = validate(&p, false);
        assert_eq!(code, Some(78));
        assert!(stderr.contains(want), "expected `{want}` in:\n{stderr}");
        assert!(
            stderr.contains("ca_file = "),
            "the line is shown:\n{stderr}"
        );
    };
    check("https://127.0.0.1:1/x", "no such file: /nonexistent/ca.pem");
    check(
        "http://127.0.0.1:1/x",
        "TLS settings for a plain `http://` URL",
    );
}

#[test]
fn validate_deep_connects_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    support::make_certs(dir.path());
    let server = Server::start_with(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        0,
        None,
        Some(server_tls(dir.path())),
    );
    let p = pipeline(dir.path(), server.port, 1);
    let https = std::fs::read_to_string(&p)
        .unwrap()
        .replace("http://", "https://");
    let deep = |base: &str, ca: &str| {
        std::fs::write(
            &p,
            base.to_string()
                + &format!(
                    "tls = {{ ca_file = {:?} }}\n",
                    dir.path().join(ca).display().to_string()
                ),
        )
        .unwrap();
        validate(&p, true)
    };
    let (code, out) = deep(&https, "ca.pem");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("accepts connections"), "{out}");
    let (code, out) = deep(&https, "other.pem");
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains("TLS with 127.0.0.1:") && out.contains("invalid peer certificate"),
        "{out}"
    );
    assert!(out.contains("check `tls.ca_file`"), "{out}");
    // https:// to a plain HTTP server.
    let plain = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), 0, None);
    let wrong = https.replace(&format!(":{}/", server.port), &format!(":{}/", plain.port));
    let (code, out) = deep(&wrong, "ca.pem");
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{}", plain.port)) && out.contains("TLS"),
        "{out}"
    );
    // Nothing listening.
    let port = support::free_port();
    let down = https.replace(&format!(":{}/", server.port), &format!(":{port}/"));
    let (code, out) = deep(&down, "ca.pem");
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{out}"
    );
}
