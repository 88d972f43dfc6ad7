//! `sink = "jsonl"`: one JSON object per message, to standard output or a file.
//!
//! Events follow schema v1 ([`super::event`], `docs/events.md`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use edgeflow_core::{
    BuildCtx, BuildError, Invalid, Message, Moved, Report, Sink, StageError, StageInfo, Variant,
};
use serde::Deserialize;

use super::options::{SPOOL_MOVED, SpoolTable};
use super::spooled::{Json, Spooled};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "publish",
    variant: Some(Variant {
        key: "sink",
        value: "jsonl",
    }),
    summary: "one JSON object per message, to stdout or a file",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
path = "events.jsonl"   # "-" (the default) is standard output
append = false          # true: keep what the file holds
"#,
};

fn stdout_path() -> String {
    "-".to_string()
}

/// Config of `sink = "jsonl"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonLinesConfig {
    /// Which frame summaries to send: `every_frame` (default), `on_change`, `summary`.
    #[serde(default)]
    pub mode: super::select::PublishMode,
    /// With `mode = "summary"`: one summary per stream this often.
    #[serde(default = "super::select::default_interval")]
    pub summary_interval_s: f64,
    /// File to write; `-` (default) is standard output.
    #[serde(default = "stdout_path")]
    pub path: String,
    /// Append to the file instead of replacing it.
    #[serde(default)]
    pub append: bool,
    /// Write through a durable spool (`spool = { dir = "..." }`): events are appended to the
    /// spool at once and written to the file (flushed, `fsync`ed on `spool.fsync_interval_ms`) by a
    /// sender; what a crash leaves unwritten is written on the next run.
    #[serde(default)]
    pub spool: Option<SpoolTable>,
}

/// The JSON-lines sink.
pub struct JsonLines {
    /// With `spool`: the spool and the thread that writes the file.
    spooled: Option<Spooled<Json>>,
    select: super::select::Selector,
    /// The file to empty before the first line (replace mode).
    truncate: Option<File>,
    out: BufWriter<Box<dyn Write + Send>>,
    target: String,
    device_id: String,
    written: u64,
}

impl JsonLines {
    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// With `spool`: events go to the spool; a sender appends them to the file, flushes,
    /// `fsync`s on the interval, and only then acknowledges them.
    fn build_spooled(
        cfg: JsonLinesConfig,
        table: &SpoolTable,
        ctx: &BuildCtx,
    ) -> Result<Self, BuildError> {
        let path = PathBuf::from(&cfg.path);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                BuildError::new(format!("cannot open {} for writing: {e}", path.display()))
                    .with_help("check the path and its permissions")
            })?;
        let (spool, _) = super::spooled::open_spool(table, ctx)?;
        let (target, every) = (
            cfg.path.clone(),
            std::time::Duration::from_millis(table.fsync_interval_ms),
        );
        let spooled = Spooled::start(
            "jsonl",
            ctx,
            spool,
            cfg.mode,
            cfg.summary_interval_s,
            table.drain_timeout_s,
            Json,
            move |spool, stop| {
                let mut last_sync = std::time::Instant::now();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let batch = spool.pending(0, 256, std::time::Duration::from_millis(50));
                    if batch.is_empty() {
                        continue;
                    }
                    let mut buf = Vec::new();
                    for (_, line) in &batch {
                        buf.extend_from_slice(line);
                        buf.push(b'\n');
                    }
                    let written = file
                        .write_all(&buf)
                        .and_then(|_| file.flush())
                        .and_then(|_| {
                            if every.is_zero() || last_sync.elapsed() >= every {
                                last_sync = std::time::Instant::now();
                                file.sync_data()
                            } else {
                                Ok(())
                            }
                        });
                    match written {
                        Ok(()) => {
                            for (seq, _) in batch {
                                let _ = spool.ack(seq);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(
                                file = target,
                                "cannot write events, they wait in the spool: {e}"
                            );
                            std::thread::sleep(std::time::Duration::from_millis(500));
                        }
                    }
                }
                let _ = file.sync_data();
            },
        )?;
        Ok(JsonLines {
            spooled: Some(spooled),
            select: super::select::Selector::new(cfg.mode, cfg.summary_interval_s),
            truncate: None,
            out: BufWriter::new(Box::new(std::io::sink())),
            target: cfg.path,
            device_id: ctx.device_id.to_string(),
            written: 0,
        })
    }

    /// One line per event.
    fn write(&mut self, events: &[edgeflow_events::Event]) -> Result<(), StageError> {
        for event in events {
            serde_json::to_writer(&mut self.out, event)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|e| StageError::fatal(format!("cannot write to {}: {e}", self.target)))?;
            self.written += 1;
        }
        Ok(())
    }

    fn truncate_once(&mut self) -> Result<(), StageError> {
        if let Some(f) = self.truncate.take() {
            f.set_len(0)
                .map_err(|e| StageError::fatal(format!("cannot truncate {}: {e}", self.target)))?;
        }
        Ok(())
    }
}

impl Sink for JsonLines {
    type Config = JsonLinesConfig;
    type In = Message;

    const MOVED: &'static [Moved] = &SPOOL_MOVED;

    fn validate(cfg: &Self::Config) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        super::select::validate(cfg.mode, cfg.summary_interval_s, &mut inv);
        if cfg.path.trim().is_empty() {
            inv.field(
                "path",
                "the path is empty",
                Some("use `-` for standard output or name a file".into()),
            );
        }
        if cfg.spool.is_some() && cfg.path == "-" {
            inv.field(
                "spool",
                "standard output cannot be spooled",
                Some("set a `path` to write through the spool".into()),
            );
        }
        if cfg.path == "-" && cfg.append {
            inv.field(
                "append",
                "standard output cannot be appended to",
                Some("remove `append` or set a `path`".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: Self::Config, ctx: &BuildCtx) -> Result<Self, BuildError> {
        if let Some(table) = cfg.spool.clone() {
            return Self::build_spooled(cfg, &table, ctx);
        }
        let mut truncate = None;
        let out: Box<dyn Write + Send> = if cfg.path == "-" {
            Box::new(std::io::stdout())
        } else {
            let path = PathBuf::from(&cfg.path);
            // Not truncated here: `validate --deep` builds stages too, and must not empty an
            // events file. The first write (or `finish`) truncates instead. A stage rebuilt in
            // a running pipeline goes on after what its predecessor wrote.
            let append = cfg.append || ctx.rebuilt;
            let file: std::io::Result<File> = if append {
                OpenOptions::new().create(true).append(true).open(&path)
            } else {
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(&path)
            };
            let file = file.map_err(|e| {
                let help = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() && !p.exists() => {
                        format!("create the directory {} first", p.display())
                    }
                    _ => "check the path and its permissions".to_string(),
                };
                BuildError::new(format!("cannot open {} for writing: {e}", path.display()))
                    .with_help(help)
                    .with_source(e)
            })?;
            // Devices and pipes (`/dev/null`, a FIFO) have nothing to truncate.
            if !append && file.metadata().is_ok_and(|m| m.is_file()) {
                truncate = Some(file.try_clone().map_err(|e| {
                    BuildError::new(format!("cannot open {}: {e}", path.display()))
                })?);
            }
            Box::new(file)
        };
        Ok(JsonLines {
            spooled: None,
            select: super::select::Selector::new(cfg.mode, cfg.summary_interval_s),
            truncate,
            out: BufWriter::new(out),
            target: cfg.path,
            device_id: ctx.device_id.to_string(),
            written: 0,
        })
    }

    fn report(&self, report: &mut Report) {
        match &self.spooled {
            Some(sp) => sp.report(report),
            None => {
                report.set("sink", "jsonl");
            }
        }
        report
            .set("path", self.target.as_str())
            .set("events_written", self.written);
    }

    fn consume(&mut self, msg: Message) -> Result<(), StageError> {
        if let Some(sp) = self.spooled.as_mut() {
            self.written += 1;
            return sp.consume(&msg);
        }
        self.truncate_once()?;
        let events = self.select.select(&self.device_id, &msg);
        self.write(&events)
    }

    fn finish(&mut self) -> Result<(), StageError> {
        if let Some(sp) = self.spooled.as_mut() {
            return sp.finish();
        }
        self.truncate_once()?;
        let events = self.select.flush();
        self.write(&events)?;
        self.out
            .flush()
            .map_err(|e| StageError::fatal(format!("cannot flush {}: {e}", self.target)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::testing::{HarnessError, config_from_toml, run_sink};
    use edgeflow_core::{BBox, Detection, Detections, Meta, Port};

    fn detections() -> Message {
        let d = |label: &str| Detection {
            class_id: 0,
            label: label.into(),
            score: 0.75,
            bbox: BBox {
                x: 0.25,
                y: 0.5,
                width: 0.125,
                height: 0.25,
            },
            keypoints: vec![],
        };
        Detections {
            meta: Meta::now("cam".into(), 7, 700),
            frame_width: 64,
            frame_height: 48,
            detections: vec![d("person"), d("car")],
            skipped: false,
            face_model: false,
        }
        .into_message()
    }

    #[test]
    fn writes_one_object_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let cfg: JsonLinesConfig =
            config_from_toml(&format!("path = {:?}", path.display().to_string())).unwrap();
        let sink = run_sink::<JsonLines>(cfg, [detections(), detections()]).unwrap();
        assert_eq!(sink.written(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let v = &lines[0];
        assert_eq!(v["kind"], "detections");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["device_id"], "test-device");
        assert_eq!(v["stream_id"], "cam");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["persons_detected"], 1);
        assert_eq!(v["detections"][0]["class"], "person");
        assert_eq!(v["detections"][0]["xmin"], 0.25);
        assert_eq!(v["detections"][0]["conf"], 0.75);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn summary_mode_writes_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let cfg: JsonLinesConfig = config_from_toml(&format!(
            "path = {:?}\nmode = \"summary\"\nsummary_interval_s = 60.0",
            path.display().to_string()
        ))
        .unwrap();
        run_sink::<JsonLines>(cfg, [detections(), detections()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["kind"], "summary");
        assert_eq!(lines[0]["frames"], 2);
        let bad: JsonLinesConfig =
            config_from_toml("mode = \"summary\"\nsummary_interval_s = 0.0").unwrap();
        assert_eq!(
            JsonLines::validate(&bad).unwrap_err().problems[0]
                .field
                .as_deref(),
            Some("summary_interval_s")
        );
    }

    #[test]
    fn through_a_spool_every_event_reaches_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let toml = format!(
            "path = {:?}\nspool = {{ dir = {:?}, fsync_interval_ms = 0 }}",
            path.display().to_string(),
            dir.path().join("spool").display().to_string()
        );
        let cfg: JsonLinesConfig = config_from_toml(&toml).unwrap();
        run_sink::<JsonLines>(cfg, (0..50).map(|_| detections())).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 50);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
        // A second run with the same spool writes only its own events.
        let cfg: JsonLinesConfig = config_from_toml(&toml).unwrap();
        run_sink::<JsonLines>(cfg, (0..5).map(|_| detections())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 55);
        let bad: JsonLinesConfig = config_from_toml("spool = { dir = \"s\" }").unwrap();
        assert_eq!(
            JsonLines::validate(&bad).unwrap_err().problems[0]
                .field
                .as_deref(),
            Some("spool")
        );
    }

    #[test]
    fn append_keeps_existing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, "{\"old\":true}\n").unwrap();
        let cfg: JsonLinesConfig = config_from_toml(&format!(
            "path = {:?}\nappend = true",
            path.display().to_string()
        ))
        .unwrap();
        run_sink::<JsonLines>(cfg, [detections()]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn replace_mode_truncates_only_when_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, "old line that is long\n").unwrap();
        let cfg: JsonLinesConfig =
            config_from_toml(&format!("path = {:?}", path.display().to_string())).unwrap();
        // Building (as `validate --deep` does) keeps the file as it is.
        drop(JsonLines::build(cfg.clone(), &BuildCtx::for_stage("out")).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old line that is long\n"
        );
        run_sink::<JsonLines>(cfg, [detections()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("{\"schema_version\":1"), "{text}");
    }

    #[test]
    fn a_sink_rebuilt_in_a_running_pipeline_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let cfg: JsonLinesConfig =
            config_from_toml(&format!("path = {:?}", path.display().to_string())).unwrap();
        run_sink::<JsonLines>(cfg.clone(), [detections()]).unwrap();
        let mut ctx = BuildCtx::for_stage("out");
        ctx.rebuilt = true;
        let mut again = JsonLines::build(cfg, &ctx).unwrap();
        again.consume(detections()).unwrap();
        again.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn devices_and_pipes_are_written_without_truncation() {
        let cfg: JsonLinesConfig = config_from_toml("path = \"/dev/null\"").unwrap();
        let sink = run_sink::<JsonLines>(cfg, [detections()]).unwrap();
        assert_eq!(sink.written(), 1);
    }

    #[test]
    fn missing_directory_is_a_build_error_with_help() {
        let cfg: JsonLinesConfig =
            config_from_toml("path = \"/nonexistent-dir/x/e.jsonl\"").unwrap();
        match run_sink::<JsonLines>(cfg, []) {
            Err(HarnessError::Build(e)) => {
                assert!(
                    e.message.contains("cannot open /nonexistent-dir/x/e.jsonl"),
                    "{e}"
                );
                assert!(e.help.unwrap().contains("create the directory"));
            }
            other => panic!("expected a build error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn write_failure_is_fatal() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let cfg: JsonLinesConfig = config_from_toml("path = \"/dev/full\"\nappend = true").unwrap();
        let err = run_sink::<JsonLines>(cfg, [detections()])
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(err, HarnessError::Stage(StageError::Fatal(_))),
            "{err}"
        );
    }

    #[test]
    fn validate_rejects_empty_path_and_stdout_append() {
        let cfg: JsonLinesConfig = config_from_toml("path = \"\"").unwrap();
        assert_eq!(
            JsonLines::validate(&cfg).unwrap_err().problems[0]
                .field
                .as_deref(),
            Some("path")
        );
        let cfg: JsonLinesConfig = config_from_toml("append = true").unwrap();
        assert_eq!(
            JsonLines::validate(&cfg).unwrap_err().problems[0]
                .field
                .as_deref(),
            Some("append")
        );
    }
}
