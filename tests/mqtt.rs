//! MQTT publishing against a real broker (Debian's mosquitto, started here on 127.0.0.1 and a
//! free port): every accepted event arrives, once after dedup by `event_id`, through broker
//! outages, a broker killed mid-run, and edgeflow itself killed and started again.
#![cfg(feature = "mqtt")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

mod support;
use support::{free_port, validate};

/// A mosquitto with persistence (subscriptions survive a restart), in its own directory.
struct Broker {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn new(dir: &Path) -> Broker {
        Broker::with(dir, "")
    }

    /// A broker whose config ends with `extra` (more listeners); its first listener stays
    /// plain and anonymous for the test's subscriber.
    fn with(dir: &Path, extra: &str) -> Broker {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        // Started as root, mosquitto drops to its own user: let it reach and write its
        // persistence file.
        use std::os::unix::fs::PermissionsExt;
        if let Some(parent) = dir.parent() {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!("per_listener_settings true\npersistence true\npersistence_location {}/\nautosave_interval 1\nlog_dest none\nlistener {port} 127.0.0.1\nallow_anonymous true\n{extra}", dir.display()),
        )
        .unwrap();
        Broker {
            port,
            dir: dir.to_path_buf(),
            child: None,
        }
    }

    fn start(&mut self) {
        let child = Command::new("mosquitto")
            .args(["-c", self.dir.join("mosquitto.conf").to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < end, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye, no final save.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: mosquitto saves its sessions and exits.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A persistent-session subscriber to `edgeflow/#` that keeps reconnecting; collects payloads.
struct Subscriber {
    got: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    fn new(port: u16, id: &str) -> Subscriber {
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(false);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = Client::new(opts, 100);
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                match conn.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        let _ = client.try_subscribe("edgeflow/#", QoS::AtLeastOnce);
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&p.payload) {
                            v["_topic"] = p.topic.into();
                            g.lock().unwrap().push(v);
                        }
                    }
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
                    _ => {}
                }
            }
        });
        Subscriber { got, stop }
    }

    /// Distinct events (by `event_id`) of `kind`, as (stream, seq) → times seen.
    fn events(&self, kind: &str) -> BTreeMap<(String, u64), usize> {
        let got = self.got.lock().unwrap();
        let mut ids = BTreeSet::new();
        let mut out = BTreeMap::new();
        for v in got.iter().filter(|v| v["kind"] == kind) {
            if ids.insert(v["event_id"].as_str().unwrap().to_string()) {
                *out.entry((
                    v["stream_id"].as_str().unwrap().to_string(),
                    v["seq"].as_u64().unwrap(),
                ))
                .or_insert(0) += 1;
            }
        }
        out
    }

    fn wait_for(&self, kind: &str, n: usize, timeout: Duration) -> BTreeMap<(String, u64), usize> {
        let end = Instant::now() + timeout;
        loop {
            let e = self.events(kind);
            if e.len() >= n || Instant::now() > end {
                return e;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn pipeline(dir: &Path, name: &str, port: u16, stream: &str, count: u64, extra: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"{name}\"\ndevice_id = \"dev\"\n\
             [stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 64\nheight = 48\ncount = {count}\nstream_id = \"{stream}\"\n{extra}\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"mqtt\"\nbroker = \"127.0.0.1:{port}\"\n\
             spool = {{ dir = {:?}, drain_timeout_s = 60.0, fsync_interval_ms = 0 }}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    p
}

fn edgeflow(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: Child, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    let mut child = child;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(st.success(), "edgeflow failed: {err}");
            return err;
        }
        assert!(Instant::now() < end, "edgeflow did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn all_once(events: &BTreeMap<(String, u64), usize>, stream: &str, n: u64) {
    let seqs: Vec<u64> = events
        .keys()
        .filter(|(s, _)| s == stream)
        .map(|(_, q)| *q)
        .collect();
    assert_eq!(
        seqs,
        (0..n).collect::<Vec<_>>(),
        "stream {stream}: every frame's event, once"
    );
}

#[test]
fn every_event_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-once");
    std::thread::sleep(Duration::from_millis(300));
    let p = pipeline(dir.path(), "once", broker.port, "cam", 50, "");
    wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    all_once(
        &sub.wait_for("detections", 50, Duration::from_secs(10)),
        "cam",
        50,
    );
    // The retained status: `offline` after a clean end (a late subscriber sees it).
    assert_eq!(retained_status(broker.port), "offline");
    drop(sub);
}

/// The retained message on the status topic, as a new subscriber sees it.
fn retained_status(port: u16) -> String {
    let mut opts = MqttOptions::new(format!("status-reader-{}", free_port()), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = Client::new(opts, 10);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match conn.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                let _ = client.try_subscribe("edgeflow/dev/status", QoS::AtLeastOnce);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.retain => {
                return String::from_utf8_lossy(&p.payload).into_owned();
            }
            _ => {}
        }
    }
    String::new()
}

#[test]
fn the_status_is_online_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let p = pipeline(
        dir.path(),
        "status",
        broker.port,
        "cam",
        100,
        "fps = 20.0\nrealtime = true",
    );
    let run = edgeflow(&["run", p.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(retained_status(broker.port), "online");
    wait_ok(run, Duration::from_secs(60));
    assert_eq!(retained_status(broker.port), "offline");
}

#[test]
fn broker_down_at_start_then_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    // Create the subscriber's persistent session, let the broker save it, stop the broker.
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-late");
    std::thread::sleep(Duration::from_millis(1500));
    broker.stop();
    let p = pipeline(dir.path(), "late", broker.port, "cam", 40, "");
    let run = edgeflow(&["run", p.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(2));
    broker.start();
    wait_ok(run, Duration::from_secs(60));
    all_once(
        &sub.wait_for("detections", 40, Duration::from_secs(15)),
        "cam",
        40,
    );
}

#[test]
fn broker_killed_mid_run_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-kill");
    std::thread::sleep(Duration::from_millis(1500));
    // 80 frames at 20 fps: 4 s of events, the broker gone for 2 s in the middle.
    let p = pipeline(
        dir.path(),
        "kill",
        broker.port,
        "cam",
        80,
        "fps = 20.0\nrealtime = true",
    );
    let run = edgeflow(&["run", p.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1200));
    broker.kill();
    std::thread::sleep(Duration::from_secs(2));
    broker.start();
    let stderr = wait_ok(run, Duration::from_secs(60));
    all_once(
        &sub.wait_for("detections", 80, Duration::from_secs(15)),
        "cam",
        80,
    );
    assert!(
        stderr.contains("MQTT broker unreachable"),
        "the outage is logged: {stderr}"
    );
}

#[test]
fn edgeflow_killed_and_started_again_replays_its_spool() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-replay");
    std::thread::sleep(Duration::from_millis(1500));
    broker.stop();
    // Run 1: the broker is down; 30 events are accepted into the spool; SIGKILL while waiting.
    let p1 = pipeline(dir.path(), "replay", broker.port, "cam", 30, "");
    let mut run1 = edgeflow(&["run", p1.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(2));
    run1.kill().unwrap();
    let _ = run1.wait();
    // Run 2, same spool, broker back: its own 5 events and the 30 from before.
    broker.start();
    let p2 = pipeline(dir.path(), "replay", broker.port, "cam2", 5, "");
    wait_ok(
        edgeflow(&["run", p2.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    let got = sub.wait_for("detections", 35, Duration::from_secs(15));
    all_once(&got, "cam", 30);
    all_once(&got, "cam2", 5);
}

#[test]
fn validate_catches_bad_options_and_an_unreachable_broker() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str, deep: bool, want: &[&str]| {
        let p = dir.path().join("v.toml");
        std::fs::write(
            &p,
            format!("[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"mqtt\"\nspool = {{ dir = {:?} }}\n{extra}\n", dir.path().join("s").display().to_string()),
        )
        .unwrap();
        let (code, stderr) = validate(&p, deep);
        assert_eq!(code, Some(78), "{stderr}");
        for w in want {
            assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
        }
    };
    check(
        "broker = \"localhost\"\ntopic = \"x/{stream}/#\"",
        false,
        &[
            "`localhost` is not `host:port`",
            "`{stream}` is not a placeholder here",
            "no `#` or `+`",
        ],
    );
    check(
        &format!("broker = \"127.0.0.1:{}\"", free_port()),
        true,
        &[
            "cannot reach the MQTT broker at 127.0.0.1:",
            "events wait in the spool",
        ],
    );
    // `.invalid` never resolves (RFC 6761): the message says so, not just "cannot reach".
    check(
        "broker = \"broker.edgeflow.invalid:1883\"",
        true,
        &[
            "the MQTT broker's name `broker.edgeflow.invalid` does not resolve",
            "check the host in `broker`",
        ],
    );
}

/// A broker with a second listener: TLS that requires a client certificate, and a password.
fn tls_broker(dir: &Path) -> (Broker, u16) {
    let bdir = dir.join("broker");
    std::fs::create_dir_all(&bdir).unwrap();
    support::make_certs(&bdir);
    let passwd = bdir.join("passwd");
    let st = Command::new("mosquitto_passwd")
        .args(["-c", "-b", passwd.to_str().unwrap(), "edge", "s3cret"])
        .status()
        .unwrap();
    assert!(st.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let tls_port = free_port();
    let d = bdir.display();
    let mut broker = Broker::with(
        &bdir,
        &format!(
            "listener {tls_port} 127.0.0.1\nallow_anonymous false\npassword_file {d}/passwd\n\
             cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate true\n"
        ),
    );
    broker.start();
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(
            Instant::now() < end,
            "mosquitto's TLS listener did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (broker, tls_port)
}

fn tls_settings(dir: &Path, ca: &str, password: &str) -> String {
    let b = dir.join("broker");
    format!(
        "tls = {{ ca_file = {:?}, client_cert_file = {:?}, client_key_file = {:?} }}\nauth = {{ username = \"edge\", password = \"{password}\" }}\n",
        b.join(ca).display().to_string(),
        b.join("client.pem").display().to_string(),
        b.join("client.key").display().to_string(),
    )
}

#[test]
fn tls_with_a_client_certificate_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, tls_port) = tls_broker(dir.path());
    let sub = Subscriber::new(broker.port, "sub-tls");
    std::thread::sleep(Duration::from_millis(300));
    let p = pipeline(dir.path(), "tls", tls_port, "cam", 30, "");
    let text = std::fs::read_to_string(&p).unwrap() + &tls_settings(dir.path(), "ca.pem", "s3cret");
    std::fs::write(&p, text).unwrap();
    // `validate --deep` opens a real session: TLS, client certificate and password.
    let (code, text) = validate(&p, true);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("accepted a TLS session as `edge`"), "{text}");
    wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    all_once(
        &sub.wait_for("detections", 30, Duration::from_secs(10)),
        "cam",
        30,
    );
}

#[test]
fn a_wrong_password_keeps_events_in_the_spool_until_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, tls_port) = tls_broker(dir.path());
    let sub = Subscriber::new(broker.port, "sub-tls-fix");
    std::thread::sleep(Duration::from_millis(300));
    // Run 1: the broker refuses the password; the run ends after its drain timeout, with the
    // reason in the log and the events kept.
    let p = pipeline(dir.path(), "fix", tls_port, "cam", 12, "");
    let base = std::fs::read_to_string(&p)
        .unwrap()
        .replace("drain_timeout_s = 60.0", "drain_timeout_s = 2.0");
    std::fs::write(
        &p,
        base.clone() + &tls_settings(dir.path(), "ca.pem", "wrong"),
    )
    .unwrap();
    let stderr = wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(
        stderr.contains("refused the user name or password"),
        "{stderr}"
    );
    assert!(sub.events("detections").is_empty());
    // Run 2, password fixed, no new frames: the 12 spooled events arrive.
    let base = base.replace("count = 12", "count = 0");
    std::fs::write(&p, base + &tls_settings(dir.path(), "ca.pem", "s3cret")).unwrap();
    wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    all_once(
        &sub.wait_for("detections", 12, Duration::from_secs(10)),
        "cam",
        12,
    );
}

#[test]
fn validate_explains_tls_and_password_problems() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, tls_port) = tls_broker(dir.path());
    let check = |settings: &str, deep: bool, want: &[&str]| {
        let p = pipeline(dir.path(), "v", tls_port, "cam", 1, "");
        let text = std::fs::read_to_string(&p).unwrap() + settings;
        std::fs::write(&p, text).unwrap();
        let (code, stderr) = validate(&p, deep);
        assert_eq!(code, Some(78), "{stderr}");
        for w in want {
            assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
        }
    };
    // The broker's certificate is not signed by the CA we trust.
    check(
        &tls_settings(dir.path(), "other.pem", "s3cret"),
        true,
        &["TLS with the MQTT broker failed: check `tls.ca_file`"],
    );
    check(
        &tls_settings(dir.path(), "ca.pem", "nope"),
        true,
        &["refused the user name or password"],
    );
    // Plain MQTT to the TLS port.
    check(
        "auth = { username = \"edge\", password = \"s3cret\" }\n",
        true,
        &["the MQTT broker closed the session"],
    );
    // Static checks, every problem at once with its line.
    check(
        "ca_file = \"/nonexistent/ca.pem\"\nclient_key_file = \"k.pem\"\n",
        false,
        &[
            "`ca_file` has moved into the `tls` table",
            "`client_key_file` has moved into the `tls` table",
            "write `tls = { ca_file = \"/nonexistent/ca.pem\", client_key_file = \"k.pem\" }` in place of `ca_file`, `client_key_file`",
        ],
    );
    check(
        "tls = true\n",
        false,
        &["`tls = true` is now a table: write `tls = {}`"],
    );
    check(
        "username = \"edge\"\n",
        false,
        &[
            "`username` has moved into the `auth` table",
            "write `auth = { username = \"edge\" }` instead",
        ],
    );
    check(
        &tls_settings(dir.path(), "ca.pem", "s3cret").replace("client.", "v1client."),
        false,
        &["is an X.509 v1 certificate", "client_cert_file"],
    );
    check(
        &tls_settings(dir.path(), "ca.pem", "s3cret").replace("client.key", "server.key"),
        false,
        &["does not match", "client_key_file"],
    );
    check(
        "tls = { ca_file = \"/nonexistent/ca.pem\", client_key_file = \"k.pem\" }\n",
        false,
        &[
            "invalid `tls.ca_file`",
            "no such file: /nonexistent/ca.pem",
            "a client key without its certificate",
            "set `client_cert_file` in `tls` too",
        ],
    );
}

#[test]
fn a_full_spool_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-full");
    std::thread::sleep(Duration::from_millis(1500));
    broker.stop();
    // Run 1, broker down: 200 events into a 16 KiB spool; the oldest go, counted.
    let p = pipeline(dir.path(), "full", broker.port, "cam", 200, "");
    // No `device_status` events: the arithmetic below counts the frames' events alone.
    let base = std::fs::read_to_string(&p)
        .unwrap()
        .replace("drain_timeout_s = 60.0", "drain_timeout_s = 0.5")
        .replace(
            "sink = \"mqtt\"",
            "sink = \"mqtt\"\ndevice_status_interval_s = 0.0",
        );
    std::fs::write(
        &p,
        base.replace(
            "fsync_interval_ms = 0",
            "fsync_interval_ms = 0, max_bytes = 16384",
        ),
    )
    .unwrap();
    let stderr = wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(
        stderr.contains("spool full: dropped the oldest unsent entries"),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .rfind(|l| l.contains("events were dropped because the spool was full"))
        .unwrap_or_else(|| panic!("the total is reported: {stderr}"));
    let dropped: u64 = line
        .split("dropped=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(dropped > 0 && dropped < 200, "{dropped}");
    // Run 2, broker back, no new frames: exactly the newest 200 - dropped arrive, once each.
    broker.start();
    std::fs::write(
        &p,
        base.replace("count = 200", "count = 0")
            .replace("drain_timeout_s = 0.5", "drain_timeout_s = 60.0")
            .replace(
                "fsync_interval_ms = 0",
                "fsync_interval_ms = 0, max_bytes = 16384",
            ),
    )
    .unwrap();
    wait_ok(
        edgeflow(&["run", p.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    let kept = 200 - dropped;
    let got = sub.wait_for("detections", kept as usize, Duration::from_secs(15));
    let seqs: Vec<u64> = got.keys().map(|(_, q)| *q).collect();
    assert_eq!(
        seqs,
        (dropped..200).collect::<Vec<_>>(),
        "the newest {kept} arrive and the counter matches what was lost"
    );
}

#[test]
fn validate_deep_gives_up_on_a_port_that_never_answers_connect() {
    // Accepts TCP (the kernel does, from the backlog) but never speaks MQTT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "silent", port, "cam", 1, "");
    let (code, stderr) = validate(&p, true);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("did not answer CONNECT within 5 s")
            && stderr.contains("TLS ports need a `tls` table"),
        "{stderr}"
    );
    drop(silent);
}

#[test]
fn tls_without_a_ca_file_needs_the_systems_roots() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "roots", free_port(), "cam", 1, "");
    let text = std::fs::read_to_string(&p).unwrap() + "tls = {}\n";
    std::fs::write(&p, text).unwrap();
    let validate = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_edgeflow"))
            .args(["validate", p.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    assert!(
        validate(&[]).status.success(),
        "the system's roots are found"
    );
    let out = validate(&[
        ("SSL_CERT_FILE", "/nonexistent"),
        ("SSL_CERT_DIR", "/nonexistent"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("no CA certificates found on this system")
            && stderr.contains("install `ca-certificates`"),
        "{stderr}"
    );
}

#[test]
fn the_topic_changes_in_a_running_pipeline_from_the_named_seq_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(&dir.path().join("broker"));
    broker.start();
    let sub = Subscriber::new(broker.port, "sub-topic");
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(pipeline(
        dir.path(),
        "topic",
        broker.port,
        "cam",
        100,
        "realtime = true\nfps = 100.0",
    ))
    .unwrap()
        + "topic = \"edgeflow/old/{stream_id}\"\n";
    let loaded = edgeflow::load_str(&edgeflow::registry(), "topic.toml", &text, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let run = edgeflow::Pipeline::build(loaded.spec, edgeflow::RunOptions::default())
        .unwrap()
        .start()
        .unwrap();
    sub.wait_for("detections", 20, Duration::from_secs(20));
    let out = run.stage("out").unwrap();
    let done = out
        .reconfigure(
            "topic = \"edgeflow/new/{stream_id}\"",
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(done.outcome, edgeflow::Outcome::InPlace);
    let boundary = done.last_seq_before["cam"];
    assert!(boundary < 99, "landed mid-run: {boundary}");
    let state = out.get_state(Duration::from_secs(5)).unwrap();
    assert_eq!(
        state.report.get("topic"),
        Some(&"edgeflow/new/{stream_id}".into())
    );
    assert!(state.report.get("spool_pending").is_some());
    assert!(run.wait().failure.is_none());
    all_once(
        &sub.wait_for("detections", 100, Duration::from_secs(10)),
        "cam",
        100,
    );
    let got = sub.got.lock().unwrap();
    for v in got.iter().filter(|v| v["kind"] == "detections") {
        let seq = v["seq"].as_u64().unwrap();
        let want = if seq <= boundary {
            "edgeflow/old/cam"
        } else {
            "edgeflow/new/cam"
        };
        assert_eq!(v["_topic"], want, "seq {seq} (boundary {boundary})");
    }
}

#[test]
fn spool_drops_are_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 32\nheight = 32\ncount = 200\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"mqtt\"\nbroker = \"127.0.0.1:{}\"\n\
         device_status_interval_s = 0.0\nspool = {{ dir = {:?}, max_bytes = 16384, drain_timeout_s = 0.5 }}\n",
        free_port(),
        dir.path().join("spool").display().to_string()
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "m.toml", &text, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let p = edgeflow::Pipeline::build(loaded.spec, edgeflow::RunOptions::default()).unwrap();
    let metrics = p.metrics();
    p.start().unwrap().wait();
    let text = metrics.encode_text();
    let value = |fact: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with("edgeflow_stage_report{")
                    && l.contains(&format!("fact=\"{fact}\""))
                    && l.contains("stage=\"out\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {fact} in:\n{text}"))
    };
    let (dropped, pending) = (value("spool_dropped"), value("spool_pending"));
    assert!(dropped > 0.0, "{text}");
    assert_eq!(dropped + pending, 200.0);
}
