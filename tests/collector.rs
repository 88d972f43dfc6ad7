//! The cloud collector end to end, with every component real and started here on 127.0.0.1:
//! an edge pipeline publishing to tansu (a Kafka-protocol broker), `edgeflow collect`
//! consuming in a group into SQLite or PostgreSQL (Debian's server, started by the test),
//! the REST API, alerts into a webhook, dead letters, replays, a store outage and a member
//! killed mid-stream.
#![cfg(all(feature = "collector", feature = "kafka"))]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};
use support::postgres::Postgres;
use support::tansu::Tansu;
use support::{free_port, run};

/// `edgeflow collect` as a child process.
struct Collect {
    child: Child,
    base: String,
    log: PathBuf,
    agent: ureq::Agent,
    token: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

impl Collect {
    /// Start with `[kafka]` at `brokers` (and `kafka` lines), `store.url`, `http` lines in
    /// `[http]`, and more TOML after.
    fn start(dir: &Path, name: &str, brokers: &str, store: &str, conf: [&str; 3]) -> Collect {
        let [kafka, http, more] = conf;
        let group = if kafka.contains("group_id") {
            ""
        } else {
            "group_id = \"collectors\"\n"
        };
        let port = free_port();
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[kafka]\nbrokers = \"{brokers}\"\n{group}session_timeout_ms = 6000\nmax_message_bytes = 2000\n{kafka}\
                 [store]\nurl = \"{store}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{http}\
                 [uploads]\ndir = {:?}\nmax_snapshot_bytes = 1000\n{more}",
                dir.join("uploads").display().to_string()
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
            .args(["collect", "--config", cfg.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let token = http
            .lines()
            .find_map(|l| l.strip_prefix("token = "))
            .map(|t| t.trim_matches('"').to_string());
        let c = Collect {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            agent: agent(),
            token,
        };
        let end = Instant::now() + Duration::from_secs(30);
        while c.get("/health").0 != 200 {
            assert!(
                Instant::now() < end,
                "the collector did not start:\n{}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value, String) {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let r = match (method, body) {
            ("GET", _) => {
                let mut q = self.agent.get(&url);
                if let Some(a) = &auth {
                    q = q.header("authorization", a);
                }
                q.call()
            }
            (m, b) => {
                let mut q = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    q = q.header("authorization", a);
                }
                q.send(b.unwrap_or_default())
            }
        };
        let Ok(mut r) = r else {
            return (0, Value::Null, String::new());
        };
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.request("GET", path, None);
        (s, v)
    }

    /// Every stored event, page by page through `next_cursor`.
    fn all(&self, page: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/data?limit={page}&cursor={c}"),
                None => format!("/data?limit={page}"),
            };
            let (s, v) = self.get(&path);
            assert_eq!(s, 200, "{v}");
            out.extend(v["events"].as_array().unwrap().iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// Wait until `/data` holds `n` events (and no more come within a second).
    fn wait_for(&self, n: usize, secs: u64) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let all = self.all(1000);
            if all.len() >= n {
                std::thread::sleep(Duration::from_secs(1));
                return self.all(1000);
            }
            assert!(
                Instant::now() < end,
                "{} of {n} events stored:\n{}",
                all.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, _, text) = self.request("GET", "/metrics", None);
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// SIGTERM, and wait for a clean stop.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{}", self.log());
        self.log()
    }
}

impl Drop for Collect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "100000")
        .create()
        .unwrap()
}

fn send(p: &BaseProducer, topic: &str, key: &str, payload: &[u8]) {
    loop {
        match p.send(BaseRecord::to(topic).key(key).payload(payload)) {
            Ok(()) => break,
            Err((_, _)) => {
                p.poll(Duration::from_millis(50));
            }
        }
    }
    p.poll(Duration::ZERO);
}

fn flush(p: &BaseProducer) {
    p.flush(Duration::from_secs(30)).unwrap();
}

/// A zone event of device `cam-2` as an edge would write it.
fn zone_event(seq: u64, zone: &str, kind: &str, track: u64, extra: Value) -> Value {
    let mut e = json!({
        "schema_version": 1,
        "event_id": format!("ze-{seq}-{kind}-{track}"),
        "device_id": "cam-2",
        "stream_id": "gate",
        "seq": seq,
        "pts_ns": seq * 40_000_000,
        "timestamp": format!("2026-12-01T10:{:02}:00.000Z", seq % 60),
        "kind": "zone_event",
        "zone_id": zone,
        "event_type": kind,
        "track_id": track,
        "class": "person",
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// A webhook receiver: records each body; answers 500 to the first `fail_first` requests.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
}

fn hook(fail_first: usize) -> Hook {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alert", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0usize));
    let (b, r) = (bodies.clone(), requests.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = conn.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let Some(body) = body else { continue };
            let n = {
                let mut r = r.lock().unwrap();
                *r += 1;
                *r
            };
            let status = if n <= fail_first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            if n > fail_first {
                b.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
            let _ = conn.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    Hook {
        url,
        bodies,
        requests,
    }
}

/// The edge pipeline: 30 frames of detections to Kafka, device statuses at start and stop.
fn edge(dir: &Path, brokers: &str) {
    let p = dir.join("edge.toml");
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"edge-test\"\ndevice_id = \"dev\"\n[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 32\nheight = 32\ncount = 30\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"kafka\"\nbrokers = \"{brokers}\"\n\
             spool = {{ drain_timeout_s = 30.0, dir = {:?} }}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
}

const RULES: &str = "[alerts.long-stay]\nkind = \"zone_event\"\nevent_type = \"exit\"\nzone_id = \"door\"\nmin_dwell_s = 10.0\nwebhook = \"HOOK\"\n";

/// Edge → tansu → collector on `store` (a URL): every event once, dead letters, devices,
/// analytics, the alert and its webhook, pagination, metrics; then a second group replaying
/// the topics stores nothing twice.
fn end_to_end(store: &str, dir: &Path) {
    let tansu = Tansu::start(free_port());
    tansu.create_topic("edgeflow-zone_event", 2);
    edge(dir, &tansu.brokers);
    let p = producer(&tansu.brokers);
    let events = [
        zone_event(1, "door", "enter", 1, json!({})),
        zone_event(2, "door", "exit", 1, json!({"dwell_s": 12.5})),
        zone_event(3, "door", "enter", 2, json!({})),
        zone_event(4, "door", "exit", 2, json!({"dwell_s": 3.0})),
        zone_event(5, "gate-line", "line_cross", 3, json!({"direction": "in"})),
        zone_event(6, "gate-line", "line_cross", 4, json!({"direction": "out"})),
    ];
    let nul = serde_json::to_vec(&zone_event(
        9,
        "door",
        "enter",
        9,
        json!({"device_id": "cam\u{0}2"}),
    ))
    .unwrap();
    let bad: [&[u8]; 5] = [
        b"not json at all",
        br#"{"schema_version":2,"kind":"zone_event"}"#,
        br#"{"schema_version":1,"kind":"zone_event","device_id":"cam-2"}"#,
        &[b' '; 3000],
        &nul,
    ];
    for (i, e) in events.iter().enumerate() {
        send(
            &p,
            "edgeflow-zone_event",
            "cam-2/gate",
            &serde_json::to_vec(e).unwrap(),
        );
        if let Some(b) = bad.get(i) {
            send(&p, "edgeflow-zone_event", "cam-2/gate", b);
        }
    }
    // A replayed duplicate (the spool after an outage sends it again).
    send(
        &p,
        "edgeflow-zone_event",
        "cam-2/gate",
        &serde_json::to_vec(&events[1]).unwrap(),
    );
    flush(&p);

    let hook = hook(1);
    let c = Collect::start(
        dir,
        "c1",
        &tansu.brokers,
        store,
        ["", "", &RULES.replace("HOOK", &hook.url)],
    );
    // 30 detections, 2 device statuses, 6 zone events.
    let all = c.wait_for(38, 60);
    assert_eq!(all.len(), 38, "{:#?}", all);
    let ids: BTreeSet<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 38, "an event is stored twice");
    let mut seqs: Vec<u64> = all
        .iter()
        .filter(|e| e["kind"] == "detections")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    // Newest first.
    let ts: Vec<&str> = all
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    let mut sorted = ts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ts, sorted);
    // Small pages give the same events, none twice.
    let paged = c.all(7);
    assert_eq!(paged.len(), 38);
    assert_eq!(paged, all);

    // Filters.
    let (s, v) = c.get("/data?kind=zone_event&zone_id=door");
    assert_eq!(s, 200);
    assert_eq!(v["count"], 4, "{v}");
    let (_, v) = c.get("/data?device_id=dev&kind=device_status");
    let statuses = v["events"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "{v}");
    assert_eq!(statuses[0]["state"], "stopping");
    assert_eq!(statuses[1]["state"], "starting");
    let (_, v) = c.get("/data?from=2026-12-01T10:03:00Z&to=2026-12-01T10:05:00Z");
    assert_eq!(v["count"], 2, "{v}");

    // Dead letters: each with its reason and position; the good events around them stored.
    let (_, v) = c.get("/dead_letters");
    let dead = v["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 5, "{v}");
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    for want in [
        "NUL character",
        "not JSON",
        "unknown schema version 2",
        "not a v1 event",
        "max_message_bytes",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "{want} in {reasons:?}"
        );
    }
    assert!(
        dead.iter()
            .all(|d| d["topic"] == "edgeflow-zone_event" && d["offset"].as_i64().unwrap() >= 0)
    );

    // Devices: the edge (stopped cleanly, with its version and pipeline) and cam-2.
    let (_, v) = c.get("/devices");
    let devices = v["devices"].as_array().unwrap_or_else(|| panic!("{v}"));
    let dev = devices
        .iter()
        .find(|d| d["device_id"] == "dev")
        .expect("dev");
    assert_eq!(dev["state"], "stopped", "{dev}");
    assert_eq!(dev["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(dev["pipeline"], "edge-test");
    assert_eq!(dev["streams"]["cam"], "live", "{dev}");
    let cam2 = devices
        .iter()
        .find(|d| d["device_id"] == "cam-2")
        .expect("cam-2");
    assert_eq!(cam2["online"], true);

    // Analytics.
    let (_, v) = c.get("/analytics/counts?group_by=zone");
    assert_eq!(v["groups"][0]["zone"], "door", "{v}");
    assert_eq!(v["groups"][0]["entries"], 2);
    assert_eq!(v["groups"][0]["exits"], 2);
    assert_eq!(v["groups"][0]["dwell"]["max_s"], 12.5);
    assert_eq!(v["groups"][0]["dwell"]["mean_s"], 7.75);
    let (_, v) = c.get("/analytics/counts?group_by=line");
    assert_eq!(v["groups"][0]["line"], "gate-line", "{v}");
    assert_eq!(
        v["groups"][0]["line_crossings"],
        json!({"in": 1, "out": 1, "total": 2})
    );
    let (_, v) = c.get("/analytics/counts?group_by=device");
    let by: BTreeMap<String, Value> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["device"].as_str().unwrap().to_string(), g.clone()))
        .collect();
    assert_eq!(by["cam-2"]["entries"], 2, "{v}");
    assert!(by.contains_key("dev"), "{v}");
    let (_, v) = c.get("/analytics/counts?group_by=hour&device_id=cam-2");
    assert_eq!(v["groups"][0]["hour"], "2026-12-01T10:00:00Z", "{v}");

    // The alert: once (its duplicate did not fire it again), delivered after one failure.
    let (_, v) = c.get("/alerts");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{v}");
    assert_eq!(alerts[0]["rule"], "long-stay");
    assert_eq!(alerts[0]["event_id"], "ze-2-exit-1");
    let end = Instant::now() + Duration::from_secs(20);
    while hook.bodies.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < end,
            "the webhook got nothing:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["rule"], "long-stay");
    assert_eq!(bodies[0]["event"]["dwell_s"], 12.5);
    assert_eq!(
        *hook.requests.lock().unwrap(),
        2,
        "one failure, then the retry"
    );
    let id = alerts[0]["id"].as_i64().unwrap();
    let (s, _, _) = c.request("POST", &format!("/alerts/{id}/acknowledge"), None);
    assert_eq!(s, 200);
    let (_, v) = c.get("/alerts?acknowledged=false");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = c.get("/alerts?acknowledged=true");
    assert_eq!(v["alerts"][0]["acknowledged"], true, "{v}");
    assert_eq!(c.request("POST", "/alerts/999/acknowledge", None).0, 404);

    // Metrics.
    assert_eq!(c.metric("edgeflow_collector_stored_total"), 38.0);
    assert_eq!(c.metric("edgeflow_collector_duplicates_total"), 1.0);
    assert_eq!(c.metric("edgeflow_collector_dead_lettered_total"), 5.0);
    assert_eq!(c.metric("edgeflow_collector_alerts_total"), 1.0);
    assert!(c.metric("edgeflow_collector_consumed_total") >= 44.0);
    promtool(&c);
    dashboard_metrics_present(&c);
    c.stop();

    // A second group reads the topics from the start: everything again, nothing stored twice.
    let c = Collect::start(
        dir,
        "c2",
        &tansu.brokers,
        store,
        ["group_id = \"replay\"\n", "", ""],
    );
    let end = Instant::now() + Duration::from_secs(60);
    while c.metric("edgeflow_collector_duplicates_total") < 38.0 {
        assert!(
            Instant::now() < end,
            "the replay was not read:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(c.all(1000).len(), 38);
    assert_eq!(c.metric("edgeflow_collector_stored_total"), 0.0);
    let (_, v) = c.get("/alerts");
    assert_eq!(
        v["alerts"].as_array().unwrap().len(),
        1,
        "a replay fired the alert again"
    );
    c.stop();
}

/// Every metric the Grafana dashboard queries is in `/metrics` (the lag after the first
/// statistics, every 5 s).
fn dashboard_metrics_present(c: &Collect) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/edgeflow-collector.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            let mut rest = e;
            while let Some(i) = rest.find("edgeflow_collector_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                names.insert(name);
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, _, text) = c.request("GET", "/metrics", None);
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !text.lines().any(|l| l.starts_with(n.as_str())))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "the dashboard queries {missing:?}, not in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn promtool(c: &Collect) {
    let (_, _, text) = c.request("GET", "/metrics", None);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus): run scripts/setup.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn edge_to_collector_on_sqlite_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    end_to_end(&db, dir.path());
}

#[test]
fn edge_to_collector_on_postgres_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    end_to_end(&pg.url(), dir.path());
}

fn detections(device: &str, seq: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schema_version": 1, "event_id": format!("{device}-{seq}"), "device_id": device,
        "stream_id": "s", "seq": seq, "pts_ns": 0,
        "timestamp": format!("2026-12-01T11:00:{:02}.{:03}Z", (seq / 1000) % 60, seq % 1000),
        "kind": "detections", "persons_detected": 0, "frame_width": 32, "frame_height": 32,
        "detections": []
    }))
    .unwrap()
}

#[test]
fn two_collectors_in_a_group_one_killed_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(free_port());
    tansu.create_topic("edgeflow-detections-4", 4);
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let kafka = "topics = [\"edgeflow-detections-4\"]\nbatch_max = 20\n";
    let a = Collect::start(dir.path(), "a", &tansu.brokers, &db, [kafka, "", ""]);
    let b = Collect::start(dir.path(), "b", &tansu.brokers, &db, [kafka, "", ""]);
    let end = Instant::now() + Duration::from_secs(60);
    while a.metric("edgeflow_collector_assigned_partitions")
        + b.metric("edgeflow_collector_assigned_partitions")
        < 4.0
        || a.metric("edgeflow_collector_assigned_partitions") == 0.0
        || b.metric("edgeflow_collector_assigned_partitions") == 0.0
    {
        assert!(
            Instant::now() < end,
            "the group did not share the partitions:\n{}\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let p = producer(&tansu.brokers);
    let total = 3000u64;
    for seq in 0..total {
        let key = format!("dev-{}", seq % 8);
        send(&p, "edgeflow-detections-4", &key, &detections(&key, seq));
        if seq == total / 3 {
            flush(&p);
            // Kill b mid-stream, its batch in hand uncommitted.
            let end = Instant::now() + Duration::from_secs(30);
            while b.metric("edgeflow_collector_stored_total") == 0.0 {
                assert!(Instant::now() < end, "b stored nothing:\n{}", b.log());
                std::thread::sleep(Duration::from_millis(50));
            }
            let killed = Command::new("kill")
                .args(["-KILL", &b.child.id().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
        }
    }
    flush(&p);
    let all = a.wait_for(total as usize, 90);
    let ids: BTreeSet<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), total as usize);
    assert_eq!(ids.len(), total as usize);
    assert_eq!(
        a.metric("edgeflow_collector_assigned_partitions"),
        4.0,
        "a took b's partitions"
    );
    drop(b);
    a.stop();
}

#[test]
fn a_store_outage_holds_the_offsets_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let tansu = Tansu::start(free_port());
    let c = Collect::start(dir.path(), "c", &tansu.brokers, &pg.url(), ["", "", ""]);
    let p = producer(&tansu.brokers);
    for seq in 0..100 {
        send(&p, "edgeflow-detections", "dev/s", &detections("dev", seq));
    }
    flush(&p);
    c.wait_for(100, 60);
    pg.pause();
    for seq in 100..200 {
        send(&p, "edgeflow-detections", "dev/s", &detections("dev", seq));
    }
    flush(&p);
    let end = Instant::now() + Duration::from_secs(60);
    while c.metric("edgeflow_collector_store_errors_total") < 2.0 {
        assert!(
            Instant::now() < end,
            "the outage was not noticed:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(c.get("/health").0, 503);
    pg.resume();
    let all = c.wait_for(200, 60);
    let mut seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(c.get("/health").0, 200);
    c.stop();
}

#[test]
fn bad_configs_get_every_problem_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[kafka]\nbrokers = \"\"\ngroup_idd = \"x\"\n[store]\nurl = \"mysql://db\"\n[http]\nlisten = \"everywhere\"\n[alerts.a]\nkind = \"zone_event\"\nmin_count = 3\n[alert]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["collect", "--check", "--config", cfg.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    for want in [
        "bad.toml:3:1",
        "`group_idd`",
        "did you mean `group_id`",
        "invalid `brokers` in `[kafka]`",
        "invalid `url` in `[store]`",
        "invalid `listen` in `[http]`",
        "`min_count` and `window_s` go together",
        "unknown table `[alert]`",
        "did you mean `[alerts]`",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }
    // A token variable that is not set must not leave the API open.
    let open = dir.path().join("open.toml");
    std::fs::write(
        &open,
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:9\"\n[store]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"EDGEFLOW_TEST_NO_SUCH_TOKEN\"\n[uploads]\ndir = {:?}\n",
            dir.path().join("o.db").display(),
            dir.path().join("up").display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["collect", "--config", open.to_str().unwrap()])
        .env_remove("EDGEFLOW_TEST_NO_SUCH_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("EDGEFLOW_TEST_NO_SUCH_TOKEN") && err.contains("unset or empty"),
        "{err}"
    );
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[kafka]\nbrokers = \"127.0.0.1:9092\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["collect", "--check", "--config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn uploads_tokens_and_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    // No broker at this port: the API serves regardless.
    let brokers = format!("127.0.0.1:{}", free_port());
    let mut c = Collect::start(
        dir.path(),
        "c",
        &brokers,
        &db,
        ["", "token = \"s3cret\"\n", ""],
    );
    // The token: required everywhere but /health.
    let bare = agent();
    let r = bare.get(format!("{}/data", c.base)).call().unwrap();
    assert_eq!(r.status(), 401);
    let r = bare.get(format!("{}/health", c.base)).call().unwrap();
    assert_eq!(r.status(), 200);
    c.token = Some("wrong".into());
    assert_eq!(c.get("/devices").0, 401);
    c.token = Some("s3cret".into());

    // Snapshots: put, get back with the event id, over the limit refused, bad ids refused.
    let jpeg = vec![0xffu8; 600];
    let (s, v, _) = c.request("PUT", "/snapshots/snap-1.jpg?event_id=ev-9", Some(&jpeg));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["bytes"], 600);
    let mut q = c.agent.get(format!("{}/snapshots/snap-1.jpg", c.base));
    q = q.header("authorization", "Bearer s3cret");
    let mut r = q.call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-event-id"], "ev-9");
    assert_eq!(r.body_mut().read_to_vec().unwrap(), jpeg);
    let (s, v, _) = c.request("PUT", "/snapshots/big", Some(&[0u8; 1001]));
    assert_eq!(s, 413, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("max_snapshot_bytes"),
        "{v}"
    );
    assert_eq!(c.get("/snapshots/big").0, 404);
    assert_eq!(c.request("PUT", "/snapshots/..secret", Some(b"x")).0, 400);
    let (s, _, _) = c.request("PUT", "/clips/clip-1?event_id=ev-9", Some(&[1u8; 5000]));
    assert_eq!(s, 201);
    assert_eq!(c.get("/clips/nope").0, 404);

    // Bad query parameters: 400 naming the parameter.
    for (path, param) in [
        ("/data?limt=5", "limt"),
        ("/data?limit=0", "limit"),
        ("/data?limit=100000", "limit"),
        ("/data?from=yesterday", "from"),
        (
            "/data?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            "to",
        ),
        ("/data?cursor=abc", "cursor"),
        ("/data?kind=", "kind"),
        ("/analytics/counts?group_by=week", "group_by"),
        ("/alerts?acknowledged=maybe", "acknowledged"),
        ("/alerts/x/acknowledge", "id"),
    ] {
        let (s, v, _) = if path.ends_with("acknowledge") {
            c.request("POST", path, None)
        } else {
            c.request("GET", path, None)
        };
        assert_eq!(s, 400, "{path}: {v}");
        assert_eq!(v["parameter"], param, "{path}: {v}");
    }
    assert_eq!(c.get("/nowhere").0, 404);
    c.stop();
}
