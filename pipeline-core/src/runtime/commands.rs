//! How a stage's thread answers commands: `get_state`, `reconfigure` (in place, or by
//! rebuilding the stage in place) and `rebuild`.
//!
//! Rebuilding keeps the thread, the input queue and the output senders. A transform's new
//! stage is built first and the old one is retired only when that worked (its `finish` sends
//! on what it still holds), so a failed rebuild leaves the old stage untouched. A source or
//! sink owns things that cannot be open twice (a camera, a spool directory): the old one is
//! finished first; if the new one cannot be built, the old config is built again.

use std::time::{Instant, SystemTime};

use super::worker::Worker;
use crate::config::{Fragment, check_fragment};
use crate::control::{
    Changed, Command, CommandRecord, ControlError, Outcome, Reconfigure, Reconfigured, Reply,
};
use crate::message::Message;
use crate::registry::{BuiltStage, ConfiguredStage};
use crate::stage::{BuildError, StageError};

impl Worker {
    /// Answer one command.
    pub(super) fn command(&mut self, cmd: Command, stage: &mut BuiltStage, out: &mut Vec<Message>) {
        let name = cmd.name();
        if Instant::now() > cmd.deadline() {
            tracing::warn!(
                stage = &*self.id,
                command = name,
                "command dropped unhandled: its caller stopped waiting before the stage got to it"
            );
            // Say so, rather than drop the reply channel (which reads as a finished stage).
            if let Command::Reconfigure {
                reply, deadline, ..
            }
            | Command::Rebuild {
                reply, deadline, ..
            } = cmd
            {
                let _ = reply.send(Err(ControlError::Timeout {
                    stage: self.id.to_string(),
                    timeout: deadline.elapsed(),
                }));
            }
            return;
        }
        match cmd {
            Command::GetState { reply, .. } => {
                self.ctl.refresh(stage);
                tracing::debug!(stage = &*self.id, command = name, "state read");
                let _ = reply.send(self.ctl.shared.state());
            }
            Command::Reconfigure {
                fragment, reply, ..
            } => {
                let r = self.reconfigure(stage, &fragment, out);
                self.settle(name, &r, stage);
                let _ = reply.send(r);
            }
            Command::Rebuild { reply, .. } => {
                let r = self.rebuild(stage, out);
                self.settle(name, &r, stage);
                let _ = reply.send(r);
            }
        }
    }

    /// Log the outcome once and record it in the stage's state.
    fn settle(&mut self, command: &'static str, r: &Reply, stage: &BuiltStage) {
        let (ok, summary) = match r {
            Ok(done) => (
                true,
                match done.outcome {
                    Outcome::Unchanged => "nothing changed".to_string(),
                    o => format!(
                        "{}{}",
                        o.name().replace('_', " "),
                        if done.changed.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", done.changed.join(", "))
                        }
                    ),
                },
            ),
            Err(e) => (false, e.to_string()),
        };
        let bump = matches!(r, Ok(d) if d.outcome != Outcome::Unchanged);
        self.ctl.shared.record(
            CommandRecord {
                command,
                ok,
                summary: summary.clone(),
                at: SystemTime::now(),
            },
            bump,
        );
        match r {
            Ok(done) => tracing::info!(
                stage = &*self.id,
                command,
                outcome = done.outcome.name(),
                last_seq_before = ?done.last_seq_before,
                generation = done.generation,
                "{summary}"
            ),
            Err(_) => tracing::warn!(stage = &*self.id, command, "refused: {summary}"),
        }
        self.ctl.refresh(stage);
    }

    fn refused(&self, e: BuildError) -> ControlError {
        ControlError::Refused {
            stage: self.id.to_string(),
            message: e.message,
            help: e.help,
        }
    }

    fn failed_refusal(&self) -> ControlError {
        ControlError::Refused {
            stage: self.id.to_string(),
            message: format!(
                "the stage has failed ({}); the pipeline is stopping",
                self.ctl.shared.failure().unwrap_or_default()
            ),
            help: Some(
                "read the stage's error, fix the cause, and start the pipeline again".into(),
            ),
        }
    }

    fn check(&self, fragment: &Fragment) -> Result<crate::config::CheckedFragment, ControlError> {
        check_fragment(&self.ctl.schema, &self.ctl.config, fragment).map_err(|diagnostics| {
            ControlError::Invalid {
                stage: self.id.to_string(),
                diagnostics,
            }
        })
    }

    fn answer(
        &self,
        outcome: Outcome,
        changed: Vec<String>,
        before: std::collections::BTreeMap<String, u64>,
    ) -> Reconfigured {
        Reconfigured {
            stage: self.id.to_string(),
            generation: self.ctl.shared.generation() + u64::from(outcome != Outcome::Unchanged),
            outcome,
            changed,
            last_seq_before: before,
        }
    }

    fn reconfigure(
        &mut self,
        stage: &mut BuiltStage,
        fragment: &Fragment,
        out: &mut Vec<Message>,
    ) -> Reply {
        let checked = self.check(fragment)?;
        if self.failed {
            return Err(self.failed_refusal());
        }
        let before = self.ctl.last_seq();
        if checked.changed.is_empty() {
            return Ok(self.answer(Outcome::Unchanged, Vec::new(), before));
        }
        let how = stage
            .control_mut()
            .reconfigure(&*checked.configured, &Changed::new(&checked.changed))
            .map_err(|e| self.refused(e))?;
        let outcome = match how {
            Reconfigure::Applied => Outcome::InPlace,
            Reconfigure::Rebuild => {
                self.swap(stage, checked.configured, out)?;
                Outcome::Rebuilt
            }
        };
        self.ctl.config = checked.table;
        Ok(self.answer(outcome, checked.changed, before))
    }

    fn rebuild(&mut self, stage: &mut BuiltStage, out: &mut Vec<Message>) -> Reply {
        if self.failed {
            return Err(self.failed_refusal());
        }
        let checked = self.check(&Fragment::Text(String::new()))?;
        let before = self.ctl.last_seq();
        self.swap(stage, checked.configured, out)?;
        Ok(self.answer(Outcome::Rebuilt, Vec::new(), before))
    }

    /// Build a stage from `configured` and put it in `stage`'s place.
    fn swap(
        &mut self,
        stage: &mut BuiltStage,
        configured: Box<dyn ConfiguredStage>,
        out: &mut Vec<Message>,
    ) -> Result<(), ControlError> {
        self.ctl.shared.building();
        let r = if matches!(stage, BuiltStage::Transform(_)) {
            self.swap_transform(stage, configured, out)
        } else {
            self.swap_owning(stage, configured)
        };
        self.ctl.shared.running();
        r?;
        if self.failed {
            // The old stage failed while it was retired (its `finish`).
            return Err(self.failed_refusal());
        }
        Ok(())
    }

    /// What a stage rebuilt in place is told.
    fn rebuild_ctx(&self) -> crate::stage::BuildCtx {
        let mut ctx = self.ctl.ctx.clone();
        ctx.rebuilt = true;
        ctx
    }

    fn swap_transform(
        &mut self,
        stage: &mut BuiltStage,
        configured: Box<dyn ConfiguredStage>,
        out: &mut Vec<Message>,
    ) -> Result<(), ControlError> {
        let new = configured
            .build(&self.rebuild_ctx())
            .map_err(|e| self.refused(e))?;
        if let BuiltStage::Transform(old) = stage {
            // What the old stage holds (a part batch) goes on before the new one takes over.
            let r = old.finish(out);
            for m in out.drain(..) {
                self.emit(m);
            }
            if let Err(e) = r {
                self.handle(e);
            }
        }
        *stage = new;
        Ok(())
    }

    fn swap_owning(
        &mut self,
        stage: &mut BuiltStage,
        configured: Box<dyn ConfiguredStage>,
    ) -> Result<(), ControlError> {
        let retired = match stage {
            BuiltStage::Source(s) => s.finish(),
            BuiltStage::Sink(k) => k.finish(),
            BuiltStage::Transform(_) => Ok(()),
        };
        if let Err(e) = retired {
            self.handle(e);
        }
        if matches!(stage, BuiltStage::Source(_)) {
            // The new source's streams go on from the old one's last seq and pts.
            self.renumber = Some(super::worker::Renumber::after(&self.ctl.last));
        }
        let ctx = self.rebuild_ctx();
        let error = match configured.build(&ctx) {
            Ok(new) => {
                *stage = new;
                return Ok(());
            }
            Err(e) => e,
        };
        // Back to the old config.
        let again = self
            .check(&Fragment::Text(String::new()))
            .map_err(|e| BuildError::new(e.to_string()))
            .and_then(|c| c.configured.build(&ctx));
        match again {
            Ok(old) => {
                *stage = old;
                Err(self.refused(error))
            }
            Err(e2) => {
                self.retired = true;
                let message = format!(
                    "{}; and the old config could not be built again: {}",
                    error.message, e2.message
                );
                self.fail(StageError::fatal(format!("rebuild failed: {message}")));
                Err(ControlError::Refused {
                    stage: self.id.to_string(),
                    message,
                    help: error.help,
                })
            }
        }
    }
}
