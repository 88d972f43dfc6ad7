//! What this process uses, read from Linux's `/proc`: resident memory (now and peak) and the
//! CPU time of every thread by name, for `edgeflow bench` and the metrics. On other systems
//! (or where `/proc` is not mounted) every reading is `None` or empty.

use std::collections::BTreeMap;
use std::time::Duration;

/// Resident memory of this process: now and the peak since it started (`VmRSS`, `VmHWM`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident bytes now.
    pub rss: u64,
    /// The most resident bytes so far.
    pub peak_rss: u64,
}

/// This process's resident memory, or `None` without `/proc/self/status`.
pub fn memory() -> Option<Memory> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_status(text: &str) -> Option<Memory> {
    let kb = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let n = line[key.len()..].trim().trim_end_matches("kB").trim();
        n.parse::<u64>().ok().map(|k| k * 1024)
    };
    Some(Memory {
        rss: kb("VmRSS:")?,
        peak_rss: kb("VmHWM:")?,
    })
}

/// One thread's CPU time so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadCpu {
    /// The kernel's thread id.
    pub tid: u32,
    /// Its name (`comm`: at most 15 bytes; stage threads are `ef-<stage id>`).
    pub name: String,
    /// CPU time used (user + system).
    pub cpu: Duration,
}

/// Every live thread of this process with its CPU time. The time comes from
/// `/proc/self/task/<tid>/schedstat` (nanoseconds on the CPU), else from the clock ticks of
/// `stat`.
pub fn threads() -> Vec<ThreadCpu> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|n| n.trim_end().to_string())
            .unwrap_or_default();
        let cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| parse_schedstat(&s))
            .or_else(|| {
                std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .and_then(|s| parse_stat_ticks(&s))
            });
        if let Some(cpu) = cpu {
            out.push(ThreadCpu { tid, name, cpu });
        }
    }
    out.sort_by_key(|t| t.tid);
    out
}

/// The first field of `schedstat`: nanoseconds spent on a CPU.
fn parse_schedstat(text: &str) -> Option<Duration> {
    text.split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_nanos)
}

/// utime + stime of `stat` (fields 14 and 15, after the parenthesised name), at the usual
/// 100 ticks a second.
fn parse_stat_ticks(text: &str) -> Option<Duration> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU time per thread over a stretch of a run: sample it now and then ([`CpuSampler::sample`])
/// while the threads live; a thread that ended keeps its last sample.
#[derive(Debug, Default)]
pub struct CpuSampler {
    /// Per thread id: its name, the CPU time at the start of the window, and the latest.
    seen: BTreeMap<u32, (String, Duration, Duration)>,
}

impl CpuSampler {
    /// A sampler whose window starts now.
    pub fn start() -> Self {
        let mut s = CpuSampler::default();
        s.sample();
        s
    }

    /// Read every thread's CPU time again.
    pub fn sample(&mut self) {
        let first = self.seen.is_empty();
        for t in threads() {
            match self.seen.get_mut(&t.tid) {
                Some(e) => {
                    e.0 = t.name;
                    e.2 = t.cpu;
                }
                // Born inside the window: all its time is the window's.
                None if !first => {
                    self.seen.insert(t.tid, (t.name, Duration::ZERO, t.cpu));
                }
                None => {
                    self.seen.insert(t.tid, (t.name, t.cpu, t.cpu));
                }
            }
        }
    }

    /// Start the window again from the latest samples (the warm-up is over).
    pub fn restart(&mut self) {
        self.sample();
        for e in self.seen.values_mut() {
            e.1 = e.2;
        }
    }

    /// CPU time per thread name over the window, threads of one name added together (several
    /// GStreamer or ONNX Runtime pool threads share a name), most CPU first.
    pub fn by_name(&self) -> Vec<(String, Duration, usize)> {
        let mut sums: BTreeMap<&str, (Duration, usize)> = BTreeMap::new();
        for (name, start, last) in self.seen.values() {
            let e = sums.entry(name.as_str()).or_default();
            e.0 += last.saturating_sub(*start);
            e.1 += 1;
        }
        let mut v: Vec<(String, Duration, usize)> = sums
            .into_iter()
            .map(|(n, (d, c))| (n.to_string(), d, c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_schedstat_and_stat() {
        let status = "Name:\tedgeflow\nVmHWM:\t  237000 kB\nVmRSS:\t  120000 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss: 120_000 * 1024,
                peak_rss: 237_000 * 1024
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
        assert_eq!(
            parse_schedstat("1500000000 2000 30\n"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_schedstat(""), None);
        // A name with spaces and parentheses; utime 250, stime 50 ticks.
        let stat = "42 (ef-det (x) y) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_measured() {
        let m = memory().expect("linux /proc");
        assert!(m.peak_rss >= m.rss && m.rss > 0, "{m:?}");
        let mut s = CpuSampler::start();
        let busy = std::thread::Builder::new()
            .name("ef-busy-test".into())
            .spawn(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed() < Duration::from_millis(30) {
                    x = x.wrapping_mul(31).wrapping_add(1);
                }
                std::hint::black_box(x);
                std::thread::sleep(Duration::from_millis(100));
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(60));
        s.sample();
        busy.join().unwrap();
        let by = s.by_name();
        let (_, cpu, n) = by
            .iter()
            .find(|(name, _, _)| name == "ef-busy-test")
            .expect("the thread was sampled");
        assert_eq!(*n, 1);
        assert!(*cpu >= Duration::from_millis(20), "{cpu:?}");
        s.restart();
        assert!(
            s.by_name()
                .iter()
                .all(|(_, d, _)| *d < Duration::from_millis(20))
        );
    }
}
