//! A durable, bounded, append-only spool between a publish stage and its broker.
//!
//! The stage appends every accepted event and returns at once (the video path never waits for
//! a broker); a sender reads what is pending, sends it, and acknowledges each entry once the
//! broker has (Kafka delivery report, MQTT PUBACK, a flushed file). Only acknowledged entries
//! are removed; after a restart everything not acknowledged is replayed in order.
//!
//! On disk: segment files `<first seq>.seg` of records
//! `[u32 length][u32 crc32][u64 seq][u64 unix ms][payload]` (little endian), and `cursor`, the
//! first sequence number not yet acknowledged, replaced atomically. A record cut off by a crash
//! fails its CRC and is truncated away on open. Bounds: `max_bytes` and `max_age_s` drop whole
//! oldest segments, and every entry dropped unsent is counted and logged, never silent.
//!
//! Why not a crate: queue crates (yaque and the like) neither bound bytes with counted drops nor
//! keep an acknowledgement cursor apart from reads; embedded databases (redb, fjall) would work
//! but bring a B-tree or an LSM to do what a segment log and one cursor file do.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many dropped entries the spool remembers, to take back the ones delivered after all.
const DROPPED_REMEMBERED: usize = 1 << 16;

const HEADER: usize = 4 + 4 + 8 + 8;

/// Spool settings.
#[derive(Clone, Debug)]
pub struct SpoolOptions {
    /// Directory (created if missing).
    pub dir: PathBuf,
    /// Most bytes on disk; beyond, the oldest segments are dropped (and counted).
    pub max_bytes: u64,
    /// Entries older than this are dropped (and counted); `None`: kept until sent.
    pub max_age_s: Option<f64>,
    /// `fsync` at most this often (0: after every append).
    pub fsync_interval_ms: u64,
    /// Size at which a new segment starts (drops happen a segment at a time).
    pub segment_bytes: u64,
}

impl SpoolOptions {
    /// Defaults for `dir`: 256 MiB, no age limit, fsync every 100 ms, 4 MiB segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: 256 << 20,
            max_age_s: None,
            fsync_interval_ms: 100,
            segment_bytes: 4 << 20,
        }
    }
}

/// A spool problem.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {message}")]
pub struct SpoolError {
    /// The file or directory.
    pub path: String,
    /// What happened.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> SpoolError {
    SpoolError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[derive(Clone, Copy, Debug)]
struct Rec {
    seq: u64,
    offset: u64,
    len: u32,
    ms: u64,
}

struct Segment {
    path: PathBuf,
    bytes: u64,
    records: VecDeque<Rec>,
}

struct State {
    opts: SpoolOptions,
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_seq: u64,
    cursor: u64,
    acked: BTreeSet<u64>,
    dropped: u64,
    /// The most recently dropped entries: one the sender had already sent, acknowledged
    /// afterwards, arrived after all and is taken off `dropped` (bounded: senders keep far
    /// fewer in flight).
    dropped_recent: BTreeSet<u64>,
    /// Entries acknowledged since open (each once).
    delivered: u64,
    total_bytes: u64,
    last_sync: Instant,
    dirty: bool,
    /// The cursor moved since it was last written.
    cursor_dirty: bool,
    last_cursor_write: Instant,
}

/// The spool; clone it to share between the stage and its sender.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<(Mutex<State>, Condvar)>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn crc(seq: u64, ms: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&ms.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Reads a segment's valid records; returns them and the length of the valid prefix.
fn scan(path: &Path) -> Result<(Vec<Rec>, u64), SpoolError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| err(path, e))?;
    let mut recs = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER <= data.len() {
        let u32_at =
            |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let len = u32_at(pos) as usize;
        let (sum, seq, ms) = (u32_at(pos + 4), u64_at(pos + 8), u64_at(pos + 16));
        let end = pos + HEADER + len;
        if end > data.len() || crc(seq, ms, &data[pos + HEADER..end]) != sum {
            break;
        }
        recs.push(Rec {
            seq,
            offset: pos as u64,
            len: len as u32,
            ms,
        });
        pos = end;
    }
    Ok((recs, pos as u64))
}

impl Spool {
    /// Open (or create) the spool in `opts.dir`, recovering what an earlier run left.
    pub fn open(opts: SpoolOptions) -> Result<Spool, SpoolError> {
        fs::create_dir_all(&opts.dir).map_err(|e| err(&opts.dir, e))?;
        let cursor_path = opts.dir.join("cursor");
        let cursor = match fs::read_to_string(&cursor_path) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|e| err(&cursor_path, format!("unreadable cursor: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(err(&cursor_path, e)),
        };
        let mut names: Vec<(u64, PathBuf)> = fs::read_dir(&opts.dir)
            .map_err(|e| err(&opts.dir, e))?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let p = e.path();
                let first = p.file_stem()?.to_str()?.parse::<u64>().ok()?;
                (p.extension()? == "seg").then_some((first, p))
            })
            .collect();
        names.sort();
        let mut segments = VecDeque::new();
        let mut next_seq = cursor;
        let mut total_bytes = 0;
        let last = names.len().saturating_sub(1);
        for (i, (_, path)) in names.into_iter().enumerate() {
            let (recs, valid) = scan(&path)?;
            let size = fs::metadata(&path).map_err(|e| err(&path, e))?.len();
            if valid < size {
                tracing::warn!(segment = %path.display(), cut = size - valid, "spool: truncating a damaged or unfinished record");
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid))
                    .map_err(|e| err(&path, e))?;
                if i != last {
                    tracing::warn!(segment = %path.display(), "spool: a segment before the last was damaged; its tail is lost");
                }
            }
            if let Some(r) = recs.last() {
                next_seq = next_seq.max(r.seq + 1);
            }
            let records: VecDeque<Rec> = recs.into_iter().filter(|r| r.seq >= cursor).collect();
            if records.is_empty() && i != last {
                let _ = fs::remove_file(&path);
                continue;
            }
            total_bytes += valid;
            segments.push_back(Segment {
                path,
                bytes: valid,
                records,
            });
        }
        let pending: usize = segments.iter().map(|s| s.records.len()).sum();
        if pending > 0 {
            tracing::info!(dir = %opts.dir.display(), pending, "spool: replaying entries not yet acknowledged");
        }
        let state = State {
            opts,
            segments,
            writer: None,
            next_seq,
            cursor,
            acked: BTreeSet::new(),
            dropped: 0,
            dropped_recent: BTreeSet::new(),
            delivered: 0,
            total_bytes,
            last_sync: Instant::now(),
            dirty: false,
            cursor_dirty: false,
            last_cursor_write: Instant::now(),
        };
        Ok(Spool {
            inner: Arc::new((Mutex::new(state), Condvar::new())),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Append one entry; never waits for the broker. Returns its sequence number.
    pub fn append(&self, payload: &[u8]) -> Result<u64, SpoolError> {
        let mut st = self.state();
        let seq = st.next_seq;
        let ms = now_ms();
        let need_new = st
            .segments
            .back()
            .is_none_or(|s| s.bytes >= st.opts.segment_bytes)
            || st.writer.is_none();
        if need_new {
            let roll = st
                .segments
                .back()
                .is_none_or(|s| s.bytes >= st.opts.segment_bytes);
            if roll {
                let path = st.opts.dir.join(format!("{seq:020}.seg"));
                st.segments.push_back(Segment {
                    path,
                    bytes: 0,
                    records: VecDeque::new(),
                });
            }
            let path = st
                .segments
                .back()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| err(&path, e))?;
            st.writer = Some(file);
        }
        let mut buf = Vec::with_capacity(HEADER + payload.len());
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc(seq, ms, payload).to_le_bytes());
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&ms.to_le_bytes());
        buf.extend_from_slice(payload);
        let path = st
            .segments
            .back()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let fsync_now = st.opts.fsync_interval_ms == 0
            || st.last_sync.elapsed() >= Duration::from_millis(st.opts.fsync_interval_ms);
        {
            let w = st
                .writer
                .as_mut()
                .ok_or_else(|| err(&path, "no open segment"))?;
            w.write_all(&buf).map_err(|e| err(&path, e))?;
            if fsync_now {
                w.sync_data().map_err(|e| err(&path, e))?;
            }
        }
        if fsync_now {
            st.last_sync = Instant::now();
            st.dirty = false;
        } else {
            st.dirty = true;
        }
        let seg = st
            .segments
            .back_mut()
            .ok_or_else(|| err(&path, "no open segment"))?;
        let offset = seg.bytes;
        seg.bytes += buf.len() as u64;
        seg.records.push_back(Rec {
            seq,
            offset,
            len: payload.len() as u32,
            ms,
        });
        st.total_bytes += buf.len() as u64;
        st.next_seq += 1;
        Self::enforce_bounds(&mut st);
        drop(st);
        self.inner.1.notify_all();
        Ok(seq)
    }

    /// Drop whole oldest segments while over `max_bytes` or older than `max_age_s`.
    fn enforce_bounds(st: &mut State) {
        let now = now_ms();
        loop {
            if st.segments.len() <= 1 {
                break;
            }
            let over = st.total_bytes > st.opts.max_bytes;
            let too_old = st.opts.max_age_s.is_some_and(|age| {
                st.segments
                    .front()
                    .and_then(|s| s.records.back())
                    .is_some_and(|r| now.saturating_sub(r.ms) as f64 / 1000.0 > age)
            });
            if !(over || too_old) {
                break;
            }
            let Some(seg) = st.segments.pop_front() else {
                break;
            };
            let lost_seqs: Vec<u64> = seg
                .records
                .iter()
                .map(|r| r.seq)
                .filter(|seq| !st.acked.contains(seq))
                .collect();
            let lost = lost_seqs.len() as u64;
            st.dropped_recent.extend(lost_seqs);
            while st.dropped_recent.len() > DROPPED_REMEMBERED {
                st.dropped_recent.pop_first();
            }
            if let Some(r) = seg.records.back() {
                st.cursor = st.cursor.max(r.seq + 1);
                let cursor = st.cursor;
                st.acked.retain(|s| *s >= cursor);
            }
            st.dropped += lost;
            st.total_bytes -= seg.bytes;
            let _ = fs::remove_file(&seg.path);
            tracing::warn!(
                dropped = lost,
                total_dropped = st.dropped,
                reason = if over { "max_bytes" } else { "max_age_s" },
                "spool full: dropped the oldest unsent entries"
            );
            let _ = Self::write_cursor(st);
        }
    }

    /// Up to `max` pending entries with sequence numbers from `from` on, oldest first; waits up
    /// to `wait` when there are none.
    pub fn pending(&self, from: u64, max: usize, wait: Duration) -> Vec<(u64, Vec<u8>)> {
        let mut st = self.state();
        let has = |st: &State| {
            st.segments.iter().any(|s| {
                s.records
                    .iter()
                    .any(|r| r.seq >= from && !st.acked.contains(&r.seq))
            })
        };
        if !has(&st) && !wait.is_zero() {
            st = self
                .inner
                .1
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if st.opts.max_age_s.is_some() {
            Self::enforce_bounds(&mut st);
        }
        let mut out = Vec::new();
        for seg in &st.segments {
            if seg.records.back().is_none_or(|r| r.seq < from) {
                continue;
            }
            let start = seg.records.partition_point(|r| r.seq < from);
            let mut file: Option<File> = None;
            for r in seg
                .records
                .range(start..)
                .filter(|r| !st.acked.contains(&r.seq))
            {
                if out.len() >= max {
                    return out;
                }
                if file.is_none() {
                    file = File::open(&seg.path).ok();
                }
                let Some(f) = file.as_mut() else { break };
                let mut payload = vec![0u8; r.len as usize];
                if f.seek(SeekFrom::Start(r.offset + HEADER as u64))
                    .and_then(|_| f.read_exact(&mut payload))
                    .is_ok()
                {
                    out.push((r.seq, payload));
                }
            }
        }
        out
    }

    /// The broker has this entry: it will not be sent again, even after a restart (the cursor
    /// is written at most every `fsync_interval_ms`; a crash in between re-sends a few entries,
    /// which consumers drop by `event_id`).
    pub fn ack(&self, seq: u64) -> Result<(), SpoolError> {
        let mut st = self.state();
        if st.dropped_recent.remove(&seq) {
            // Dropped while in flight, delivered all the same: not lost.
            st.dropped = st.dropped.saturating_sub(1);
            st.delivered += 1;
            return Ok(());
        }
        if seq < st.cursor || !st.acked.insert(seq) {
            return Ok(());
        }
        st.delivered += 1;
        let before = st.cursor;
        loop {
            let c = st.cursor;
            if st.acked.remove(&c) {
                st.cursor += 1;
                continue;
            }
            // Skip a gap left by dropped entries: the oldest entry still kept.
            let first = st
                .segments
                .iter()
                .find_map(|s| s.records.iter().find(|r| r.seq >= c).map(|r| r.seq));
            match first {
                Some(f) if f > c => st.cursor = f,
                _ => break,
            }
        }
        if st.cursor != before {
            let cursor = st.cursor;
            for seg in st.segments.iter_mut() {
                while seg.records.front().is_some_and(|r| r.seq < cursor) {
                    seg.records.pop_front();
                }
                if !seg.records.is_empty() {
                    break;
                }
            }
            // Segments wholly acknowledged go (the one being written stays).
            while st.segments.len() > 1 && st.segments.front().is_some_and(|s| s.records.is_empty())
            {
                if let Some(seg) = st.segments.pop_front() {
                    st.total_bytes -= seg.bytes;
                    let _ = fs::remove_file(&seg.path);
                }
            }
            st.cursor_dirty = true;
            let every = Duration::from_millis(st.opts.fsync_interval_ms.max(1));
            if st.opts.fsync_interval_ms == 0 || st.last_cursor_write.elapsed() >= every {
                Self::write_cursor(&mut st)?;
            }
        }
        Ok(())
    }

    fn write_cursor(st: &mut State) -> Result<(), SpoolError> {
        st.cursor_dirty = false;
        st.last_cursor_write = Instant::now();
        let tmp = st.opts.dir.join("cursor.tmp");
        let path = st.opts.dir.join("cursor");
        let mut f = File::create(&tmp).map_err(|e| err(&tmp, e))?;
        f.write_all(st.cursor.to_string().as_bytes())
            .map_err(|e| err(&tmp, e))?;
        if st.opts.fsync_interval_ms == 0 {
            f.sync_data().map_err(|e| err(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| err(&path, e))
    }

    /// `fsync` what is written, and write the cursor.
    pub fn sync(&self) -> Result<(), SpoolError> {
        let mut st = self.state();
        if st.cursor_dirty {
            Self::write_cursor(&mut st)?;
        }
        if st.dirty
            && let Some(w) = st.writer.as_ref()
        {
            w.sync_data().map_err(|e| SpoolError {
                path: "segment".into(),
                message: e.to_string(),
            })?;
        }
        st.dirty = false;
        st.last_sync = Instant::now();
        Ok(())
    }

    /// Entries waiting for acknowledgement.
    pub fn len(&self) -> usize {
        let st = self.state();
        st.segments
            .iter()
            .map(|s| {
                s.records
                    .iter()
                    .filter(|r| !st.acked.contains(&r.seq))
                    .count()
            })
            .sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries acknowledged since open, each counted once.
    pub fn delivered(&self) -> u64 {
        self.state().delivered
    }

    /// Entries dropped unsent because of `max_bytes` or `max_age_s`, since open.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if self.cursor_dirty {
            let _ = Spool::write_cursor(self);
        }
        if self.dirty
            && let Some(w) = self.writer.as_ref()
        {
            let _ = w.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(v: &[(u64, Vec<u8>)]) -> Vec<String> {
        v.iter()
            .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    #[test]
    fn unacknowledged_entries_replay_in_order_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        for i in 0..5 {
            s.append(format!("e{i}").as_bytes()).unwrap();
        }
        let p = s.pending(0, 10, Duration::ZERO);
        assert_eq!(payloads(&p), ["e0", "e1", "e2", "e3", "e4"]);
        s.ack(p[0].0).unwrap();
        s.ack(p[2].0).unwrap(); // out of order: e1 not yet
        drop(s);
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        // e0 is gone for good; e2 was acknowledged past a gap, so it may come again (the
        // consumer's event_id dedup drops it); nothing is lost, order is kept.
        assert_eq!(
            payloads(&s.pending(0, 10, Duration::ZERO)),
            ["e1", "e2", "e3", "e4"]
        );
        let next = s.append(b"e5").unwrap();
        assert!(next > p[4].0, "sequence numbers go on after a restart");
    }

    #[test]
    fn a_torn_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        s.append(b"whole").unwrap();
        s.append(b"also whole").unwrap();
        drop(s);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2, 3]).unwrap(); // a crash in the middle of a header
        drop(f);
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        assert_eq!(
            payloads(&s.pending(0, 10, Duration::ZERO)),
            ["whole", "also whole"]
        );
        s.append(b"after").unwrap();
        assert_eq!(s.len(), 3);
    }

    /// A spool of 2000 bytes in segments of 500: 20 records of 100 bytes, 5 per segment.
    fn small_spool(dir: &Path) -> Spool {
        Spool::open(SpoolOptions {
            max_bytes: 2_000,
            segment_bytes: 500,
            ..SpoolOptions::new(dir)
        })
        .unwrap()
    }

    #[test]
    fn when_full_the_oldest_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let s = small_spool(dir.path());
        let payload = [7u8; 76]; // 100 bytes a record with the header
        for _ in 0..100 {
            s.append(&payload).unwrap();
        }
        let kept = s.len() as u64;
        assert_eq!(
            kept + s.dropped(),
            100,
            "every entry is either kept or counted as dropped"
        );
        assert!(s.dropped() >= 75, "{}", s.dropped());
        let on_disk: u64 = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert!(on_disk <= 2_500, "{on_disk}");
        // The newest survive.
        let p = s.pending(0, 1000, Duration::ZERO);
        assert_eq!(p.last().unwrap().0, 100);
    }

    /// Entries the sender had sent before their segment was dropped, acknowledged later,
    /// arrived: they are not counted as lost.
    #[test]
    fn dropped_entries_delivered_after_all_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let s = small_spool(dir.path());
        let payload = [7u8; 76];
        for _ in 0..10 {
            s.append(&payload).unwrap();
        }
        let in_flight: Vec<u64> = s
            .pending(0, 10, Duration::ZERO)
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        for _ in 0..90 {
            s.append(&payload).unwrap();
        }
        let dropped_then = s.dropped();
        assert!(dropped_then >= 10, "the in-flight ones' segments went");
        for seq in &in_flight {
            s.ack(*seq).unwrap();
        }
        let delivered = in_flight.len() as u64;
        assert_eq!(s.dropped(), dropped_then - delivered);
        assert_eq!(s.delivered(), delivered);
        s.ack(in_flight[0]).unwrap();
        assert_eq!(
            s.delivered(),
            delivered,
            "a repeated acknowledgement counts once"
        );
        assert_eq!(
            s.len() as u64 + s.dropped() + delivered,
            100,
            "every entry is kept, delivered or counted as lost, once"
        );
    }

    #[test]
    fn too_old_entries_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SpoolOptions {
            max_age_s: Some(0.05),
            segment_bytes: 1,
            ..SpoolOptions::new(dir.path())
        };
        let s = Spool::open(opts).unwrap();
        s.append(b"old").unwrap();
        std::thread::sleep(Duration::from_millis(120));
        s.append(b"new").unwrap();
        assert_eq!(payloads(&s.pending(0, 10, Duration::ZERO)), ["new"]);
        assert_eq!(s.dropped(), 1);
    }

    #[test]
    fn acknowledged_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(SpoolOptions {
            segment_bytes: 100,
            ..SpoolOptions::new(dir.path())
        })
        .unwrap();
        for _ in 0..10 {
            s.append(&[1u8; 80]).unwrap();
        }
        for (seq, _) in s.pending(0, 100, Duration::ZERO) {
            s.ack(seq).unwrap();
        }
        assert!(s.is_empty());
        let segs = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .count();
        assert_eq!(segs, 1, "only the segment being written stays");
        s.sync().unwrap(); // the cursor is written on the fsync interval, or now
        assert_eq!(fs::read_to_string(dir.path().join("cursor")).unwrap(), "11");
    }

    #[test]
    fn the_cursor_survives_a_drop_without_sync() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(SpoolOptions {
            fsync_interval_ms: 60_000,
            ..SpoolOptions::new(dir.path())
        })
        .unwrap();
        for _ in 0..3 {
            s.append(b"x").unwrap();
        }
        for (seq, _) in s.pending(0, 10, Duration::ZERO) {
            s.ack(seq).unwrap();
        }
        drop(s);
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        assert!(s.is_empty(), "a clean close writes the cursor");
    }

    #[test]
    fn a_waiting_reader_wakes_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        let r = s.clone();
        let t = std::thread::spawn(move || r.pending(0, 1, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        s.append(b"x").unwrap();
        assert_eq!(payloads(&t.join().unwrap()), ["x"]);
    }
}
