//! Running totals per stream and zone or line id: line crossings each way, zone entries and
//! exits. They are kept by id across a reconfigure and written (atomically, synced) to a file
//! before the events that carry them leave the stage, so across a restart or a reboot a
//! consumer never sees a total go backwards.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use edgeflow_core::{BuildCtx, BuildError, Counts, Totals};
use serde::{Deserialize, Serialize};

/// `totals = { file, persist }`: where the running totals are kept between runs.
#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotalsTable {
    /// The file (default `.edgeflow/state/<pipeline>/<stage>/totals.json`, beside the spools).
    #[serde(default)]
    pub file: Option<String>,
    /// Keep totals across restarts; `false` starts every run from zero.
    #[serde(default = "yes")]
    pub persist: bool,
}

fn yes() -> bool {
    true
}

impl Default for TotalsTable {
    fn default() -> Self {
        TotalsTable {
            file: None,
            persist: true,
        }
    }
}

impl TotalsTable {
    /// The file totals go to for stage `ctx`, if they are kept.
    pub fn path(&self, ctx: &BuildCtx) -> Option<PathBuf> {
        if !self.persist {
            return None;
        }
        Some(self.file.clone().map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(".edgeflow/state")
                .join(&*ctx.pipeline)
                .join(&*ctx.stage_id)
                .join("totals.json")
        }))
    }
}

/// What a zone or line has counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Count {
    /// Crossings of a line.
    Line {
        #[serde(rename = "in")]
        inward: u64,
        out: u64,
    },
    /// Entries and exits of a zone.
    Zone { entries: u64, exits: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Tally {
    count: Count,
    since: SystemTime,
}

/// One zone's or line's entry in the file.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    count: Count,
    since: String,
}

/// The file: `{ "version": 1, "streams": { stream: { id: { kind, counts, since } } } }`.
#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    streams: BTreeMap<String, BTreeMap<String, Stored>>,
}

/// What a counting event did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bump {
    /// A crossing towards `in_side` (`true`) or away.
    Cross(bool),
    /// A zone entry.
    Enter,
    /// A zone exit.
    Exit,
}

/// The totals of every stream, and where they are kept.
#[derive(Debug)]
pub(crate) struct Store {
    path: Option<PathBuf>,
    streams: HashMap<Arc<str>, HashMap<Arc<str>, Tally>>,
    dirty: bool,
    failed_saves: u64,
}

impl Store {
    /// The totals in `path` (none yet when the file does not exist); `None`: not kept.
    pub(crate) fn open(path: Option<PathBuf>) -> Result<Store, BuildError> {
        let mut store = Store {
            path,
            streams: HashMap::new(),
            dirty: false,
            failed_saves: 0,
        };
        let Some(path) = &store.path else {
            return Ok(store);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => {
                return Err(BuildError::new(format!(
                    "cannot read the running totals in {}: {e}",
                    path.display()
                ))
                .at("totals")
                .with_help(
                    "check `totals.file` and its permissions (`totals = { persist = false }` counts from zero each run)",
                ));
            }
        };
        let bad = |why: String| {
            BuildError::new(format!(
                "the running totals in {} are damaged: {why}",
                path.display()
            ))
            .at("totals")
            .with_help(
                "restore the file, or move it away to count from zero (consumers will see totals start again)",
            )
        };
        let file: File = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.version != 1 {
            return Err(bad(format!(
                "version {} (this edgeflow writes version 1)",
                file.version
            )));
        }
        for (stream, ids) in file.streams {
            let mut tallies = HashMap::new();
            for (id, s) in ids {
                let since = humantime::parse_rfc3339(&s.since)
                    .map_err(|e| bad(format!("`{id}`: `since` = {:?}: {e}", s.since)))?;
                tallies.insert(
                    Arc::from(id),
                    Tally {
                        count: s.count,
                        since,
                    },
                );
            }
            store.streams.insert(Arc::from(stream), tallies);
        }
        Ok(store)
    }

    /// Count `bump` at zone or line `id` of `stream` at `now`, and return the totals after
    /// it (`occupancy`: the zone's tracks inside now). A zone that was a line before (or
    /// the other way round) starts again from zero.
    pub(crate) fn count(
        &mut self,
        stream: &Arc<str>,
        id: &Arc<str>,
        bump: Option<Bump>,
        line: bool,
        occupancy: u32,
        now: SystemTime,
    ) -> Totals {
        let fresh = || Tally {
            count: if line {
                Count::Line { inward: 0, out: 0 }
            } else {
                Count::Zone {
                    entries: 0,
                    exits: 0,
                }
            },
            since: now,
        };
        let tally = self
            .streams
            .entry(stream.clone())
            .or_default()
            .entry(id.clone())
            .or_insert_with(fresh);
        if matches!(tally.count, Count::Line { .. }) != line {
            *tally = fresh();
        }
        match (&mut tally.count, bump) {
            (Count::Line { inward, .. }, Some(Bump::Cross(true))) => *inward += 1,
            (Count::Line { out, .. }, Some(Bump::Cross(false))) => *out += 1,
            (Count::Zone { entries, .. }, Some(Bump::Enter)) => *entries += 1,
            (Count::Zone { exits, .. }, Some(Bump::Exit)) => *exits += 1,
            _ => {}
        }
        if bump.is_some() {
            self.dirty = true;
        }
        Totals {
            counts: match tally.count {
                Count::Line { inward, out } => Counts::Line {
                    inward,
                    outward: out,
                },
                Count::Zone { entries, exits } => Counts::Zone {
                    entries,
                    exits,
                    occupancy,
                },
            },
            since: tally.since,
        }
    }

    /// Write the totals when they changed; on failure they stay pending for the next call
    /// (and the count of failed saves goes up).
    pub(crate) fn save(&mut self) -> Result<(), String> {
        let Some(path) = self.path.clone().filter(|_| self.dirty) else {
            return Ok(());
        };
        match write_atomically(&path, &self.to_file()) {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(e) => {
                self.failed_saves += 1;
                Err(format!(
                    "cannot save the running totals to {}: {e}",
                    path.display()
                ))
            }
        }
    }

    /// Saves that failed so far.
    pub(crate) fn failed_saves(&self) -> u64 {
        self.failed_saves
    }

    /// `{ stream: { id: { "in", "out" } | { "entries", "exits" } } }` for the stage's report,
    /// with each zone's `occupancy` from `occupancy(stream, id)`.
    pub(crate) fn report(&self, occupancy: impl Fn(&str, &str) -> u32) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let mut streams: Vec<_> = self.streams.iter().collect();
        streams.sort_by(|a, b| a.0.cmp(b.0));
        for (stream, ids) in streams {
            let mut m = serde_json::Map::new();
            let mut ids: Vec<_> = ids.iter().collect();
            ids.sort_by(|a, b| a.0.cmp(b.0));
            for (id, t) in ids {
                let v = match t.count {
                    Count::Line { inward, out } => serde_json::json!({ "in": inward, "out": out }),
                    Count::Zone { entries, exits } => serde_json::json!({
                        "entries": entries,
                        "exits": exits,
                        "occupancy": occupancy(stream, id),
                    }),
                };
                m.insert(id.to_string(), v);
            }
            out.insert(stream.to_string(), m.into());
        }
        out.into()
    }

    /// When the earliest total started, RFC 3339.
    pub(crate) fn since(&self) -> Option<String> {
        self.streams
            .values()
            .flat_map(|ids| ids.values().map(|t| t.since))
            .min()
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
    }

    fn to_file(&self) -> File {
        File {
            version: 1,
            streams: self
                .streams
                .iter()
                .map(|(stream, ids)| {
                    let ids = ids
                        .iter()
                        .map(|(id, t)| {
                            let since = humantime::format_rfc3339_millis(t.since).to_string();
                            (
                                id.to_string(),
                                Stored {
                                    count: t.count,
                                    since,
                                },
                            )
                        })
                        .collect();
                    (stream.to_string(), ids)
                })
                .collect(),
        }
    }
}

/// Write `file` to a temporary name beside `path`, sync it, and rename it over `path`: a
/// crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, file: &File) -> std::io::Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = dir {
            // The rename itself survives a power cut once the directory is synced.
            std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &Totals) -> Counts {
        s.counts
    }

    #[test]
    fn totals_survive_a_reopen_and_keep_their_start() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/totals.json");
        let (cam, door, hall): (Arc<str>, Arc<str>, Arc<str>) =
            ("cam".into(), "door".into(), "hall".into());
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut s = Store::open(Some(path.clone())).unwrap();
        s.count(&cam, &door, Some(Bump::Cross(true)), true, 0, start);
        s.count(&cam, &door, Some(Bump::Cross(false)), true, 0, start);
        s.count(&cam, &hall, Some(Bump::Enter), false, 1, start);
        s.save().unwrap();
        let later = start + std::time::Duration::from_secs(60);
        let mut s = Store::open(Some(path)).unwrap();
        let after = s.count(&cam, &door, Some(Bump::Cross(true)), true, 0, later);
        assert_eq!(
            t(&after),
            Counts::Line {
                inward: 2,
                outward: 1
            }
        );
        assert_eq!(after.since, start, "counting started in the first run");
        let hall_now = s.count(&cam, &hall, None, false, 3, later);
        assert_eq!(
            t(&hall_now),
            Counts::Zone {
                entries: 1,
                exits: 0,
                occupancy: 3
            }
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it_not_a_silent_reset() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("totals.json");
        std::fs::write(&path, "{ \"version\": 1, \"streams\": { \"cam\": ").unwrap();
        let e = Store::open(Some(path.clone())).unwrap_err().to_string();
        assert!(e.contains("damaged") && e.contains("totals.json"), "{e}");
        std::fs::write(&path, r#"{ "version": 7, "streams": {} }"#).unwrap();
        let e = Store::open(Some(path)).unwrap_err().to_string();
        assert!(e.contains("version 7"), "{e}");
    }

    #[test]
    fn a_failed_save_is_counted_and_retried() {
        let d = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename fails.
        let path = d.path().join("totals.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("x"), "").unwrap();
        let mut s = Store::open(Some(d.path().join("missing.json"))).unwrap();
        s.path = Some(path.clone());
        let id: Arc<str> = "door".into();
        s.count(
            &id,
            &id,
            Some(Bump::Cross(true)),
            true,
            0,
            SystemTime::now(),
        );
        assert!(s.save().unwrap_err().contains("cannot save"));
        assert_eq!(s.failed_saves(), 1);
        std::fs::remove_dir_all(&path).unwrap();
        s.save().unwrap();
        assert!(path.is_file(), "saved on the next try");
    }

    #[test]
    fn a_zone_that_became_a_line_starts_from_zero() {
        let mut s = Store::open(None).unwrap();
        let id: Arc<str> = "x".into();
        let now = SystemTime::now();
        s.count(&id, &id, Some(Bump::Enter), false, 1, now);
        let line = s.count(&id, &id, Some(Bump::Cross(false)), true, 0, now);
        assert_eq!(
            t(&line),
            Counts::Line {
                inward: 0,
                outward: 1
            }
        );
        s.save().unwrap();
    }
}
