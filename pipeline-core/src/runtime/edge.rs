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

/// Logs a stage's transient errors at most once a second, with the number suppressed.
#[derive(Default)]
pub(super) struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// Log `err` unless one was logged less than a second before `now`; `true` if logged.
    pub(super) fn transient(&mut self, stage: &str, err: &StageError, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return false;
        }
        tracing::warn!(
            stage,
            suppressed = self.suppressed,
            "transient error, item skipped: {err}"
        );
        self.last = Some(now);
        self.suppressed = 0;
        true
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
}
