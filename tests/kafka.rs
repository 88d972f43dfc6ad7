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

fn pipeline(dir: &Path, brokers: &str, count: u64) -> std::path::PathBuf {
    let p = dir.join("k.toml");
    std::fs::write(
        &p,
        format!(
            "[pipeline]\ndevice_id = \"dev\"\n[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 32\nheight = 32\ncount = {count}\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"edgeflow-{{kind}}\"\n\
             drain_timeout_s = 30.0\nspool_dir = {:?}\n",
            dir.join("spool").display().to_string()
        ),
    )
    .unwrap();
    p
}

/// Distinct `seq`s of the detections events in the topic (dedup by event_id), and the keys.
fn consume(brokers: &str, group: &str, want: usize) -> (Vec<u64>, BTreeSet<String>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["edgeflow-detections"]).unwrap();
    let mut ids = BTreeSet::new();
    let mut seqs = Vec::new();
    let mut keys = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(30);
    while seqs.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
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
    std::fs::write(&p, "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"kafka\"\nbrokers = \"nowhere\"\ncompression = \"brotli\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["validate", p.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr.contains("`nowhere` is not `host:port[,host:port...]`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`brotli` is not a Kafka compression"),
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

/// tansu, a real Kafka-protocol broker (scripts/setup.sh puts it in assets/bin), in memory.
struct Tansu {
    child: std::process::Child,
    brokers: String,
}

impl Tansu {
    fn start(port: u16) -> Tansu {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bin/tansu");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup.sh",
            bin.display()
        );
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // A producer that connected first may have had the topic created already: then this
        // refuses, which is fine.
        let _ = Command::new(&bin)
            .args([
                "topic",
                "create",
                "--broker",
                &url,
                "--partitions",
                "1",
                "edgeflow-detections",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        Tansu {
            child,
            brokers: format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
