//! Kafka publishing against librdkafka's mock cluster (real sockets on 127.0.0.1): every event
//! arrives once after dedup by `event_id`, also when the broker is down at the start.
#![cfg(feature = "kafka")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;

mod support;
use support::tansu::Tansu;
use support::{free_port, run, validate};

fn pipeline(dir: &Path, brokers: &str, count: u64) -> std::path::PathBuf {
    let p = dir.join("k.toml");
    std::fs::write(
        &p,
        format!(
            "[pipeline]\ndevice_id = \"dev\"\n[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 32\nheight = 32\ncount = {count}\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"edgeflow-{{kind}}\"\n\
             spool = {{ drain_timeout_s = 30.0, dir = {:?} }}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    p
}

/// Distinct `seq`s of the detections events in the topic (dedup by event_id), and the keys.
fn consume(brokers: &str, group: &str, want: usize) -> (Vec<u64>, BTreeSet<String>) {
    consume_with(brokers, group, want, &[])
}

fn consume_with(
    brokers: &str,
    group: &str,
    want: usize,
    settings: &[(&str, &str)],
) -> (Vec<u64>, BTreeSet<String>) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create().unwrap();
    // Read every partition from the start without joining a group: no rebalance to wait
    // for. (A producer that reached the broker first may have had the topic auto-created with
    // several partitions.)
    let mut tpl = rdkafka::TopicPartitionList::new();
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let md = consumer
            .fetch_metadata(Some("edgeflow-detections"), Duration::from_secs(5))
            .ok();
        let parts: Vec<i32> = md
            .iter()
            .flat_map(|m| m.topics().iter())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !parts.is_empty() {
            for p in parts {
                tpl.add_partition_offset("edgeflow-detections", p, rdkafka::Offset::Beginning)
                    .unwrap();
            }
            break;
        }
        assert!(Instant::now() < end, "the topic never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.assign(&tpl).unwrap();
    let mut ids = BTreeSet::new();
    let mut seqs = Vec::new();
    let mut keys = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(30);
    // Once events flow, 3 s without one means the topic has no more.
    let mut last = None::<Instant>;
    while seqs.len() < want
        && Instant::now() < end
        && last.is_none_or(|t| t.elapsed() < Duration::from_secs(3))
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            last = Some(Instant::now());
            let v: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
            if ids.insert(v["event_id"].as_str().unwrap().to_string()) {
                seqs.push(v["seq"].as_u64().unwrap());
            }
            keys.insert(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
        }
    }
    seqs.sort_unstable();
    (seqs, keys)
}

#[test]
fn every_event_arrives_once_with_a_key_per_stream() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("edgeflow-detections", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = run(&pipeline(dir.path(), &brokers, 30));
    assert!(ok, "{stderr}");
    let (seqs, keys) = consume(&brokers, "g-once", 30);
    assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    assert_eq!(keys, BTreeSet::from(["dev/cam".to_string()]));
}

#[test]
fn validate_catches_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.toml");
    std::fs::write(&p, "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"kafka\"\nbrokers = \"nowhere\"\ncompression = \"brotli\"\ndevice_status_interval_s = -1.0\n").unwrap();
    let (code, stderr) = validate(&p, false);
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("`nowhere` is not `host:port[,host:port...]`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`brotli` is not a Kafka compression"),
        "{stderr}"
    );
    assert!(
        stderr.contains("invalid `device_status_interval_s`"),
        "{stderr}"
    );
}

#[test]
fn failed_produce_requests_are_retried_until_delivered() {
    // The broker refuses the first produce requests (as during a leader election or an
    // outage): nothing is lost. (The mock cluster's broker_down/up re-binds ports and can abort
    // librdkafka when tests run in parallel; errors injected on requests do not.)
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("edgeflow-detections", 1, 1).unwrap();
    cluster.request_errors(
        rdkafka::types::RDKafkaApiKey::Produce,
        &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 8],
    );
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = run(&pipeline(dir.path(), &brokers, 40));
    assert!(ok, "{stderr}");
    let (seqs, _) = consume(&brokers, "g-errors", 40);
    assert_eq!(seqs, (0..40).collect::<Vec<_>>());
}

#[test]
fn a_real_kafka_protocol_broker_gets_every_event_once() {
    let tansu = Tansu::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = run(&pipeline(dir.path(), &tansu.brokers, 25));
    assert!(ok, "{stderr}");
    let (seqs, keys) = consume(&tansu.brokers, "g-tansu", 25);
    assert_eq!(seqs, (0..25).collect::<Vec<_>>());
    assert_eq!(keys, BTreeSet::from(["dev/cam".to_string()]));
}

#[test]
fn a_real_broker_down_at_start_then_up() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &format!("127.0.0.1:{port}"), 15);
    let child = std::thread::spawn(move || run(&p));
    std::thread::sleep(Duration::from_millis(1500));
    let tansu = Tansu::start(port);
    let (ok, stderr) = child.join().unwrap();
    assert!(ok, "{stderr}");
    let (seqs, _) = consume(&tansu.brokers, "g-tansu-late", 15);
    assert_eq!(seqs, (0..15).collect::<Vec<_>>());
}

/// tansu behind a TLS front: socat terminates TLS (tansu 0.6's own `--cert` listener does not
/// complete a handshake) and the broker advertises the front's port. With `mutual`, the front
/// asks for a client certificate signed by the test CA.
fn tls_tansu(dir: &Path, mutual: bool) -> Tansu {
    support::make_certs(dir);
    let front = free_port();
    let mut tansu = Tansu::start_advertising(free_port(), front, &[]);
    let upstream = tansu.child_port.to_string();
    let d = dir.display();
    let verify = if mutual {
        format!("verify=1,cafile={d}/ca.pem")
    } else {
        "verify=0".to_string()
    };
    let child = Command::new("socat")
        .args([
            &format!("OPENSSL-LISTEN:{front},bind=127.0.0.1,reuseaddr,fork,cert={d}/server.pem,key={d}/server.key,{verify}"),
            &format!("TCP:127.0.0.1:{upstream}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("socat (scripts/setup.sh installs it)");
    tansu.front = Some(child);
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(Instant::now() < end, "socat did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    tansu
}

#[test]
fn mutual_tls_to_a_real_broker() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = tls_tansu(dir.path(), true);
    let file = |f: &str| dir.path().join(f).display().to_string();
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let p = pipeline(dir.path(), &tansu.brokers, 20);
    let text = std::fs::read_to_string(&p).unwrap()
        + &format!(
            "tls = {{ ca_file = {ca:?}, client_cert_file = {cert:?}, client_key_file = {key:?} }}\n"
        );
    std::fs::write(&p, text).unwrap();
    let (code, out) = validate(&p, true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("answers (TLS)"), "{out}");
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
    let (seqs, _) = consume_with(
        &tansu.brokers,
        "g-tls",
        20,
        &[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &ca),
            ("ssl.certificate.location", &cert),
            ("ssl.key.location", &key),
        ],
    );
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
}

#[test]
fn validate_explains_tls_and_sasl_problems() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = tls_tansu(dir.path(), true);
    let file = |f: &str| dir.path().join(f).display().to_string();
    let check = |brokers: &str, settings: &str, deep: bool, want: &[&str]| {
        let p = pipeline(dir.path(), brokers, 1);
        let text = std::fs::read_to_string(&p).unwrap() + settings;
        std::fs::write(&p, text).unwrap();
        let (code, out) = validate(&p, deep);
        assert_eq!(code, Some(78), "{out}");
        for w in want {
            assert!(out.contains(w), "expected `{w}` in:\n{out}");
        }
    };
    // The broker's certificate is signed by a CA we do not trust.
    check(
        &tansu.brokers,
        &format!("tls = {{ ca_file = {:?} }}\n", file("other.pem")),
        true,
        &[
            "TLS with Kafka failed: check `tls`",
            "certificate verify failed",
        ],
    );
    // The front asks for a client certificate and gets none.
    check(
        &tansu.brokers,
        &format!("tls = {{ ca_file = {:?} }}\n", file("ca.pem")),
        true,
        &["TLS with Kafka failed: check `tls`"],
    );
    // SCRAM against a broker that requires it and does not know the user: the exchange
    // happens, the refusal is explained.
    let auth = Tansu::start_with(free_port(), &["--authentication"]);
    check(
        &auth.brokers,
        "auth = { sasl_mechanism = \"SCRAM-SHA-512\", username = \"edge\", password = \"nope\" }\n",
        true,
        &[
            "Kafka refused the SASL login",
            "SASL SCRAM authentication failed",
        ],
    );
    // A CA file that exists but holds no certificate: librdkafka refuses to start.
    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    check(
        &tansu.brokers,
        &format!("tls = {{ ca_file = {:?} }}\n", file("junk.pem")),
        true,
        &[
            "cannot create the Kafka producer",
            "check the files in `tls`",
        ],
    );
    // Static checks: every problem at once, each on its line.
    check(
        &tansu.brokers,
        "tls = { ca_file = \"/nonexistent/ca.pem\" }\nauth = { username = \"edge\" }\n\
         options = { acks = \"1\", \"security.protocol\" = \"SSL\", \"linger.ms\" = \"soon\", \"no.such.setting\" = \"1\" }\n",
        false,
        &[
            "invalid `tls.ca_file`",
            "invalid `auth.username`",
            "SASL credentials without `sasl_mechanism`",
            "invalid `options.acks`",
            "so that an acknowledged event is on every replica",
            "invalid `options.security.protocol`",
            "use the `tls` and `auth` tables",
            "invalid `options.linger.ms`",
            "invalid `options.no.such.setting`",
            "No such configuration property",
        ],
    );
    check(
        &tansu.brokers,
        "tls = { ca_file = \"/nonexistent/ca.pem\", client_key_file = \"k.pem\" }\nauth = { sasl_mechanism = \"PLAIN\" }\n",
        false,
        &[
            "no such file: /nonexistent/ca.pem",
            "a client certificate needs its key",
            "`PLAIN` needs `username` and `password` in `auth`",
        ],
    );
    // A file from before the tables: each old key names its table and the line to write.
    check(
        &tansu.brokers,
        "tls = true\nsasl_mechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\nspool_max_bytes = 4096\n",
        false,
        &[
            "`tls = true` is now a table",
            "`sasl_mechanism` has moved into the `auth` table",
            "write `auth = { username = \"u\", sasl_mechanism = \"SCRAM-SHA-512\" }` in place of `username`, `sasl_mechanism`",
            "`spool_max_bytes` has moved into the `spool` table",
        ],
    );
    check(
        &tansu.brokers,
        "auth = { sasl_mechanism = \"PLAIN\", username = \"u\", password = \"p\" }\n",
        false,
        &["PLAIN sends the password in clear text without TLS"],
    );
    check(
        &tansu.brokers,
        "auth = { sasl_mechanism = \"GSSAPI\", username = \"u\", password = \"p\" }\n",
        false,
        &["`GSSAPI` is not a SASL mechanism edgeflow supports"],
    );
}

/// A plain TCP front (socat) in its own process group, so that SIGKILL takes its forked
/// connection handlers too: every connection to the broker drops at once, mid-request.
struct Front {
    port: u16,
    upstream: u16,
    child: Option<std::process::Child>,
}

impl Front {
    fn start(port: u16, upstream: u16) -> Front {
        let mut f = Front {
            port,
            upstream,
            child: None,
        };
        f.restart();
        f
    }

    fn restart(&mut self) {
        use std::os::unix::process::CommandExt;
        let child = Command::new("socat")
            .args([
                &format!("TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork", self.port),
                &format!("TCP:127.0.0.1:{}", self.upstream),
            ])
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("socat (scripts/setup.sh installs it)");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < end, "socat did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn the_broker_connection_killed_mid_run_and_back() {
    // tansu keeps its records in memory, so killing tansu itself would lose what it had
    // acknowledged (a real Kafka keeps them on disk). What edgeflow sees of a broker crash is
    // modelled here: every connection cut at once, mid-request (SIGKILL of the front and its
    // handlers), the port refusing for 3 s, then the broker back with its records.
    let front_port = free_port();
    let tansu = Tansu::start_advertising(free_port(), front_port, &[]);
    let mut front = Front::start(front_port, tansu.child_port);
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &tansu.brokers, 80);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("count = 80\n", "count = 80\nfps = 20.0\nrealtime = true\n");
    std::fs::write(&p, text).unwrap();
    let child = std::thread::spawn(move || run(&p));
    std::thread::sleep(Duration::from_millis(1200));
    front.kill();
    std::thread::sleep(Duration::from_secs(3));
    front.restart();
    let (ok, stderr) = child.join().unwrap();
    assert!(ok, "{stderr}");
    let (seqs, _) = consume(&tansu.brokers, "g-front-kill", 80);
    assert_eq!(seqs, (0..80).collect::<Vec<_>>());
    assert!(
        stderr.contains("events wait in the spool"),
        "the outage is logged: {stderr}"
    );
}

#[test]
fn a_broker_restarted_without_its_data_gets_every_later_event() {
    // tansu SIGKILLed mid-run and started again empty (its store is memory): it answers the
    // producer's requests with UNKNOWN_PRODUCER_ID. edgeflow sees the stall, makes a new
    // producer and sends again from the spool, so everything not yet acknowledged arrives
    // within the run. (What the old broker had acknowledged died with it, as a real Kafka's
    // would with its disk.)
    let port = free_port();
    let tansu = Tansu::start(port);
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &tansu.brokers, 120);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(
            "count = 120\n",
            "count = 120\nfps = 20.0\nrealtime = true\n",
        )
        .replace("drain_timeout_s = 30.0", "drain_timeout_s = 45.0");
    std::fs::write(&p, text).unwrap();
    let started = Instant::now();
    let child = std::thread::spawn(move || run(&p));
    std::thread::sleep(Duration::from_millis(1500));
    drop(tansu); // SIGKILL: its records and producer ids are gone
    std::thread::sleep(Duration::from_millis(500));
    let tansu = Tansu::start(port);
    let (ok, stderr) = child.join().unwrap();
    assert!(ok, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "delivery resumed within the run instead of waiting out the drain"
    );
    assert!(
        stderr.contains("made a new producer, sending again from the spool"),
        "the stall is logged with what was done: {stderr}"
    );
    let (seqs, _) = consume(&tansu.brokers, "g-restarted", usize::MAX);
    let first = seqs.first().copied().unwrap_or(u64::MAX);
    assert!(
        first <= 40,
        "events from around the restart on arrive: {seqs:?}"
    );
    assert_eq!(
        seqs,
        (first..120).collect::<Vec<_>>(),
        "every event after the first one the new broker got"
    );
}

#[test]
fn edgeflow_killed_and_started_again_replays_its_spool() {
    // Run 1: no broker yet; 30 events accepted into the spool; SIGKILL while it waits.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &format!("127.0.0.1:{port}"), 30);
    let mut run1 = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["run", p.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    run1.kill().unwrap();
    let _ = run1.wait();
    // Run 2, same spool, broker up, no new frames: the 30 from before arrive.
    let tansu = Tansu::start(port);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("count = 30", "count = 0");
    std::fs::write(&p, text).unwrap();
    let (ok, stderr) = run(&p);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("spool: replaying entries not yet acknowledged"),
        "{stderr}"
    );
    let (seqs, _) = consume(&tansu.brokers, "g-replay", 30);
    assert_eq!(seqs, (0..30).collect::<Vec<_>>());
}
