//! [`StageHandle`]: commands to one running stage, each with its own reply channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flume::{RecvTimeoutError, Sender};

use super::{Shared, StageState};
use crate::config::{Diagnostics, Fragment};

/// How a change took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The fragment changed nothing; the stage was not touched.
    Unchanged,
    /// The stage applied the new config in place.
    InPlace,
    /// The stage was rebuilt in place (same thread, same queues).
    Rebuilt,
}

impl Outcome {
    /// Lower-case name: `unchanged`, `in_place`, `rebuilt`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::InPlace => "in_place",
            Outcome::Rebuilt => "rebuilt",
        }
    }
}

/// The answer to a `reconfigure` or `rebuild` that took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconfigured {
    /// Stage id.
    pub stage: String,
    /// How it took effect.
    pub outcome: Outcome,
    /// Top-level fields whose value changed.
    pub changed: Vec<String>,
    /// Per stream, the `seq` of the last item handled under the old config; every later item
    /// is handled under the new one.
    pub last_seq_before: BTreeMap<String, u64>,
    /// The stage's config generation now (see [`StageState::config_generation`]).
    pub generation: u64,
}

/// Why a command did not take effect. In every case the stage runs on as before.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The fragment has problems; each is a diagnostic with a span into the fragment.
    #[error("the change to stage `{stage}` is invalid:\n{diagnostics}")]
    Invalid {
        /// Stage id.
        stage: String,
        /// Every problem found, rendered like the loader's.
        diagnostics: Diagnostics,
    },
    /// The stage could not take the change or be rebuilt; it keeps its old config.
    #[error("stage `{stage}` keeps its old config: {message}")]
    Refused {
        /// Stage id.
        stage: String,
        /// What went wrong.
        message: String,
        /// What to do about it, if known.
        help: Option<String>,
    },
    /// The stage has ended and takes no more commands.
    #[error("stage `{stage}` has finished and takes no more commands")]
    Finished {
        /// Stage id.
        stage: String,
    },
    /// No answer within the timeout. A command the stage gets to after its deadline is
    /// dropped unhandled, so a late change never lands behind the caller's back; one the stage
    /// took in time but that outlasted the wait (a rebuild that reloads a model) completes,
    /// and [`StageState::last_command`] tells how it went.
    #[error(
        "stage `{stage}` did not answer within {} ms (it is busy inside one item, or blocked sending downstream)",
        .timeout.as_millis()
    )]
    Timeout {
        /// Stage id.
        stage: String,
        /// How long the caller waited.
        timeout: Duration,
    },
}

/// What a command's answer is.
pub(crate) type Reply = Result<Reconfigured, ControlError>;

/// A message to a running stage's worker.
pub(crate) enum Command {
    Reconfigure {
        fragment: Fragment,
        deadline: Instant,
        reply: Sender<Reply>,
    },
    Rebuild {
        deadline: Instant,
        reply: Sender<Reply>,
    },
    GetState {
        deadline: Instant,
        reply: Sender<StageState>,
    },
}

impl Command {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Reconfigure { .. } => "reconfigure",
            Command::Rebuild { .. } => "rebuild",
            Command::GetState { .. } => "get_state",
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        match self {
            Command::Reconfigure { deadline, .. }
            | Command::Rebuild { deadline, .. }
            | Command::GetState { deadline, .. } => *deadline,
        }
    }
}

/// A handle to one stage of a pipeline; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StageHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: Sender<Command>,
}

impl std::fmt::Debug for StageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageHandle")
            .field("id", &self.shared.id())
            .finish_non_exhaustive()
    }
}

impl StageHandle {
    /// The stage id.
    pub fn id(&self) -> &str {
        self.shared.id()
    }

    /// The state now, without waiting for the stage. Its `report` and `last_seq` are at most a
    /// quarter of a second old while the stage runs; [`StageHandle::get_state`] takes them
    /// fresh.
    pub fn state(&self) -> StageState {
        self.shared.state()
    }

    /// Ask the stage for its state: it answers between two items, with its report taken then.
    /// A finished stage's last state is returned at once.
    pub fn get_state(&self, timeout: Duration) -> Result<StageState, ControlError> {
        let (reply, rx) = flume::bounded(1);
        let deadline = Instant::now() + timeout;
        if self
            .commands
            .send(Command::GetState { deadline, reply })
            .is_err()
        {
            return Ok(self.state());
        }
        match rx.recv_deadline(deadline) {
            Ok(s) => Ok(s),
            Err(RecvTimeoutError::Disconnected) => Ok(self.state()),
            Err(RecvTimeoutError::Timeout) => Err(self.timeout(timeout)),
        }
    }

    /// Merge `fragment` (TOML text or a [`toml::Table`] of the stage's own fields) over the
    /// stage's running config, check it as the loader would, and apply it from the next item
    /// on: in place when the stage can, else by rebuilding the stage in place.
    pub fn reconfigure(
        &self,
        fragment: impl Into<Fragment>,
        timeout: Duration,
    ) -> Result<Reconfigured, ControlError> {
        let fragment = fragment.into();
        self.ask(timeout, |deadline, reply| Command::Reconfigure {
            fragment,
            deadline,
            reply,
        })
    }

    /// Build the stage afresh from its running config and swap it in, in place (reopen a
    /// model, a device). On failure the old stage keeps running.
    pub fn rebuild(&self, timeout: Duration) -> Result<Reconfigured, ControlError> {
        self.ask(timeout, |deadline, reply| Command::Rebuild {
            deadline,
            reply,
        })
    }

    fn ask(
        &self,
        timeout: Duration,
        make: impl FnOnce(Instant, Sender<Reply>) -> Command,
    ) -> Result<Reconfigured, ControlError> {
        let (reply, rx) = flume::bounded(1);
        let deadline = Instant::now() + timeout;
        let finished = || ControlError::Finished {
            stage: self.id().to_string(),
        };
        self.commands
            .send(make(deadline, reply))
            .map_err(|_| finished())?;
        match rx.recv_deadline(deadline) {
            Ok(r) => r,
            Err(RecvTimeoutError::Disconnected) => Err(finished()),
            Err(RecvTimeoutError::Timeout) => Err(self.timeout(timeout)),
        }
    }

    fn timeout(&self, timeout: Duration) -> ControlError {
        ControlError::Timeout {
            stage: self.id().to_string(),
            timeout,
        }
    }
}
