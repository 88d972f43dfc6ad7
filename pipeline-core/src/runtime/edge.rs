//! The sending end of an edge (with its `drop_oldest` policy) and the rate-limited log of a
//! stage's transient errors.

use std::time::{Duration, Instant};

use flume::{Receiver, Sender, TryRecvError, TrySendError};
use prometheus::IntCounter;

use crate::message::Message;
use crate::stage::StageError;

pub(super) struct EdgeSender {
    pub(super) tx: Sender<Message>,
    /// For `drop_oldest` edges: the reader's end, to pop the oldest item.
    pub(super) oldest: Option<Receiver<Message>>,
    pub(super) dropped: IntCounter,
}

impl EdgeSender {
    /// Send one message; `false` when the reader is gone.
    pub(super) fn send(&self, mut msg: Message) -> bool {
        msg.meta_mut().queued_at = Instant::now();
        match &self.oldest {
            None => self.tx.send(msg).is_ok(),
            Some(rx) => loop {
                match self.tx.try_send(msg) {
                    Ok(()) => return true,
                    Err(TrySendError::Disconnected(_)) => return false,
                    Err(TrySendError::Full(m)) => {
                        msg = m;
                        match rx.try_recv() {
                            Ok(_) => self.dropped.inc(),
                            Err(TryRecvError::Empty) => {}
                            Err(TryRecvError::Disconnected) => return false,
                        }
                    }
                }
            },
        }
    }
}

/// Logs a stage's transient errors at most once a second, with the number suppressed and a
/// few of them by name; what is still suppressed when the stage ends is logged then.
#[derive(Default)]
pub(super) struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
    /// The first few suppressed since the last line, to name them.
    examples: Vec<String>,
}

/// How many suppressed errors a line names.
const EXAMPLES: usize = 3;

impl RateLimitedLog {
    /// Log `err` unless one was logged less than a second before `now`; `true` if logged.
    pub(super) fn transient(&mut self, stage: &str, err: &StageError, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push(err.to_string());
            }
            return false;
        }
        let also = self.also();
        tracing::warn!(
            stage,
            suppressed = self.suppressed,
            "transient error, item skipped: {err}{also}"
        );
        self.last = Some(now);
        self.suppressed = 0;
        self.examples.clear();
        true
    }

    /// At the end of the stage: the errors suppressed since the last line.
    pub(super) fn flush(&mut self, stage: &str) {
        if self.suppressed > 0 {
            let also = self.also();
            tracing::warn!(
                stage,
                suppressed = self.suppressed,
                "{} more transient errors, items skipped{also}",
                self.suppressed
            );
            self.suppressed = 0;
            self.examples.clear();
        }
    }

    /// "; before it (not logged): a; b; c, and 2 more" for the suppressed since the last line.
    fn also(&self) -> String {
        if self.examples.is_empty() {
            return String::new();
        }
        let more = self.suppressed.saturating_sub(self.examples.len() as u64);
        let more = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        format!(" (not logged before: {}{more})", self.examples.join("; "))
    }

    /// The errors suppressed since the last line, as `also` names them (tests).
    #[cfg(test)]
    fn pending_text(&self) -> String {
        self.also()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_logged_at_most_once_a_second() {
        let mut log = RateLimitedLog::default();
        let err = StageError::transient("bad frame");
        let t0 = Instant::now();
        assert!(log.transient("s", &err, t0));
        for ms in [1, 10, 500, 999] {
            assert!(!log.transient("s", &err, t0 + Duration::from_millis(ms)));
        }
        assert_eq!(log.suppressed, 4);
        assert!(log.transient("s", &err, t0 + Duration::from_millis(1000)));
        assert_eq!(log.suppressed, 0);
    }

    #[test]
    fn suppressed_errors_are_named_in_the_next_line() {
        let mut log = RateLimitedLog::default();
        let t0 = Instant::now();
        log.transient("s", &StageError::transient("a.jpg: bad"), t0);
        for (i, name) in ["b.jpg", "c.jpg", "d.jpg", "e.jpg"].iter().enumerate() {
            let err = StageError::transient(format!("{name}: bad"));
            log.transient("s", &err, t0 + Duration::from_millis(10 * i as u64 + 10));
        }
        let text = log.pending_text();
        assert!(
            text.contains("b.jpg: bad; c.jpg: bad; d.jpg: bad, and 1 more"),
            "{text}"
        );
        log.flush("s");
        assert_eq!((log.suppressed, log.pending_text()), (0, String::new()));
    }
}
