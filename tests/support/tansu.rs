//! tansu, the Kafka-protocol broker the Kafka and collector tests start on 127.0.0.1.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// tansu, a real Kafka-protocol broker (scripts/setup.sh puts it in assets/bin), in memory.
pub struct Tansu {
    child: std::process::Child,
    /// `127.0.0.1:<port>` for clients.
    pub brokers: String,
    /// socat terminating TLS in front of the broker.
    pub front: Option<std::process::Child>,
    /// The port the broker itself listens on.
    pub child_port: u16,
}

impl Tansu {
    /// On `port`, in memory, with `edgeflow-detections` (one partition).
    pub fn start(port: u16) -> Tansu {
        Tansu::start_with(port, &[])
    }

    /// With more broker arguments (`--cert`, `--authentication`).
    pub fn start_with(port: u16, extra: &[&str]) -> Tansu {
        Tansu::start_advertising(port, port, extra)
    }

    /// Listening on `port`, telling clients to connect to `advertised` (a TLS front).
    pub fn start_advertising(port: u16, advertised: u16, extra: &[&str]) -> Tansu {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bin/tansu");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup.sh",
            bin.display()
        );
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised_url,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let t = Tansu {
            child,
            brokers: format!("127.0.0.1:{advertised}"),
            front: None,
            child_port: port,
        };
        // A producer that connected first may have had the topic created already: then this
        // refuses, which is fine.
        t.create_topic("edgeflow-detections", 1);
        t
    }

    /// Create `topic` with `partitions` (a topic that exists already is left as it is).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bin/tansu");
        let url = format!("tcp://127.0.0.1:{}", self.child_port);
        let _ = Command::new(&bin)
            .args([
                "topic",
                "create",
                "--broker",
                &url,
                "--partitions",
                &partitions.to_string(),
                topic,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut f) = self.front.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
