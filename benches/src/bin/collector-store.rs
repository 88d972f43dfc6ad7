//! Collector store throughput: events/s written into SQLite and (given a URL) PostgreSQL in
//! the collector's batches, beside reading the same messages alone (the baseline), in one
//! run. `benches/collector/run.sh` starts a PostgreSQL for it.
//!
//! `collector-store [--events N] [--batch B] [--postgres URL]`

use std::time::Instant;

use edgeflow_collector::alerts::Rules;
use edgeflow_collector::record::{Incoming, Position, Row, read};
use edgeflow_collector::store::Store;

fn messages(n: usize, tag: &str) -> Vec<Incoming> {
    (0..n)
        .map(|i| {
            let json = format!(
                r#"{{"schema_version":1,"event_id":"{tag}-{i}","device_id":"dev-{}","stream_id":"cam","seq":{i},"pts_ns":0,"timestamp":"2026-12-01T10:00:00.000Z","kind":"detections","persons_detected":2,"frame_width":1280,"frame_height":720,"detections":[{{"class":"person","conf":0.9,"xmin":0.1,"ymin":0.2,"width":0.1,"height":0.3}},{{"class":"person","conf":0.8,"xmin":0.5,"ymin":0.2,"width":0.1,"height":0.3}}]}}"#,
                i % 16
            );
            Incoming {
                at: Position {
                    topic: "edgeflow-detections".into(),
                    partition: (i % 4) as i32,
                    offset: i as i64,
                },
                payload: json.into_bytes(),
            }
        })
        .collect()
}

fn rows(n: usize, tag: &str) -> Vec<Row> {
    messages(n, tag)
        .into_iter()
        .filter_map(|m| read(m, 1 << 20, 256).ok())
        .collect()
}

async fn store_rate(url: &str, n: usize, batch: usize, tag: &str) -> Result<f64, String> {
    let store = Store::open(url, 4).await.map_err(|e| e.to_string())?;
    let rows = rows(n, tag);
    let rules = Rules::default();
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        store
            .write(chunk, &[], &rules)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = arg("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let batch: usize = arg("--batch").and_then(|v| v.parse().ok()).unwrap_or(500);
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start a runtime");
        std::process::exit(1);
    };
    let msgs = messages(n, "parse");
    let started = Instant::now();
    let parsed = msgs
        .into_iter()
        .filter_map(|m| read(m, 1 << 20, 256).ok())
        .count();
    let parse = parsed as f64 / started.elapsed().as_secs_f64();
    println!("| path | events/s | vs reading alone |\n|---|---|---|");
    println!("| read and check the messages (baseline) | {parse:.0} | 1.00× |");
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let tag = format!("run{}", std::process::id());
    let mut results = vec![(
        "SQLite (WAL, synchronous=NORMAL)",
        rt.block_on(store_rate(&sqlite, n, batch, &tag)),
    )];
    if let Some(url) = arg("--postgres") {
        results.push(("PostgreSQL", rt.block_on(store_rate(&url, n, batch, &tag))));
    }
    for (name, r) in results {
        match r {
            Ok(rate) => println!(
                "| stored in {name}, batches of {batch} | {rate:.0} | {:.2}× |",
                rate / parse
            ),
            Err(e) => println!("| stored in {name} | failed: {e} | |"),
        }
    }
}
