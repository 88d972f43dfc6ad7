//! Events per second through the spool to a local MQTT broker (mosquitto, started here on
//! 127.0.0.1), beside the spool alone (append, no broker) measured in the same run.
//! Measured, never asserted. Run with `cargo bench -p edgeflow-benches --bench publish`.

use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use edgeflow_core::{BuildCtx, Sink};
use edgeflow_stages::publish::mqtt::{MqttConfig, MqttSink};
use edgeflow_stages::publish::spool::{Spool, SpoolOptions};

const EVENTS: u64 = 20_000;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Baseline: the spool alone.
    let spool = Spool::open(SpoolOptions {
        fsync_interval_ms: 100,
        ..SpoolOptions::new(dir.path().join("base"))
    })
    .expect("spool");
    let payload =
        edgeflow_stages::publish::events("dev", &edgeflow_benches::detections_message(0, 3))
            .first()
            .map(edgeflow_events::Event::to_json)
            .unwrap_or_default();
    let t = Instant::now();
    for _ in 0..EVENTS {
        let _ = spool.append(&payload);
    }
    let base = EVENTS as f64 / t.elapsed().as_secs_f64();

    // Through mosquitto.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18830);
    let Ok(mut broker) = Command::new("mosquitto")
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        eprintln!("mosquitto is not installed (scripts/setup.sh installs it)");
        return;
    };
    std::thread::sleep(Duration::from_millis(300));
    let toml_cfg = format!(
        "broker = \"127.0.0.1:{port}\"\ninflight = 256\nspool = {{ dir = {:?}, fsync_interval_ms = 100, drain_timeout_s = 120.0 }}",
        dir.path().join("mqtt").display().to_string()
    );
    let cfg: MqttConfig = match edgeflow_core::testing::config_from_toml(&toml_cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("config: {e}");
            return;
        }
    };
    let Ok(mut sink) = MqttSink::build(cfg, &BuildCtx::for_stage("out")) else {
        eprintln!("cannot build the MQTT sink");
        return;
    };
    let t = Instant::now();
    for seq in 0..EVENTS {
        let _ = sink.consume(edgeflow_benches::detections_message(seq, 3));
    }
    let accepted = EVENTS as f64 / t.elapsed().as_secs_f64();
    let _ = sink.finish();
    let delivered = EVENTS as f64 / t.elapsed().as_secs_f64();
    let _ = broker.kill();
    let _ = broker.wait();
    println!("| path | events/s | vs spool alone |");
    println!("|---|---|---|");
    println!("| spool append only (baseline) | {base:.0} | 1.00× |");
    println!(
        "| publish(mqtt) accepted into the spool | {accepted:.0} | {:.2}× |",
        accepted / base
    );
    println!(
        "| publish(mqtt) acknowledged by mosquitto (QoS 1) | {delivered:.0} | {:.2}× |",
        delivered / base
    );
}
