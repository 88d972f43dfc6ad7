//! Pacing a source at its timestamps (`realtime = true`) without keeping commands waiting.

use std::time::{Duration, Instant};

/// The longest nap between two looks: a paced source hands control back to the runtime
/// (which answers the stage's commands and sees stop requests) at least this often.
pub(crate) const STEP: Duration = Duration::from_millis(50);

/// The clock of one paced source: frame `pts_ns` is due `pts_ns` after the first frame.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    started: Option<Instant>,
}

impl Pacer {
    /// Whether the frame at `pts_ns` is due. When it is not, waits up to [`STEP`] first, and
    /// says `false` if it still is not (the source returns `SourceEvent::Idle`).
    pub(crate) fn due(&mut self, pts_ns: u64) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_nanos(pts_ns);
        match due.checked_duration_since(Instant::now()) {
            None => true,
            Some(left) => {
                std::thread::sleep(left.min(STEP));
                Instant::now() >= due
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_frame_is_due_at_once_and_a_later_one_only_when_its_time_comes() {
        let mut p = Pacer::default();
        assert!(p.due(0));
        let t = Instant::now();
        assert!(!p.due(10_000_000_000), "10 s ahead is not due");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "and it did not wait for it"
        );
        assert!(p.due(1));
    }
}
