//! The control plane: a hallway into running stages.
//!
//! Every stage of a running pipeline has a [`StageHandle`] (from
//! [`crate::RunHandle::stage`]). Through it a program reads the stage's [`StageState`] at once
//! (lifecycle, items in and out, the last item's time, what the stage reports of itself), and
//! sends it commands, each with its own reply channel:
//!
//! * `reconfigure(fragment)`: a TOML fragment of the stage's own table, merged over its
//!   running config and checked by exactly the loader's checks. The stage's
//!   [`reconfigure`](crate::Transform::reconfigure) hook applies it in place, or says it cannot;
//!   then the runtime rebuilds that one stage in place (same thread, same queues).
//! * `rebuild`: build the stage afresh from its running config, in place.
//! * `get_state`: the state, with the stage's own report taken fresh.
//!
//! A transform or sink waits on data and commands together, so a command reaches an idle
//! stage at once and a busy one between two items, never in the middle of one. A source takes
//! commands between two `next` calls.

mod handle;
mod report;
mod state;

pub(crate) use handle::{Command, Reply};
pub use handle::{ControlError, Outcome, Reconfigured, StageHandle};
pub use report::Report;
pub(crate) use state::Shared;
pub use state::{CommandRecord, Lifecycle, StageState};

/// What a stage's `reconfigure` hook did with a new config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconfigure {
    /// The stage took the new config; it applies from the next item on.
    Applied,
    /// The stage cannot take this change in place: the runtime rebuilds it from the new config
    /// (same thread, same queues).
    Rebuild,
}

/// The top-level fields a change touches (their value differs from the running config).
#[derive(Clone, Copy, Debug)]
pub struct Changed<'a>(&'a [String]);

impl<'a> Changed<'a> {
    /// The fields named in `fields`.
    pub fn new(fields: &'a [String]) -> Self {
        Changed(fields)
    }

    /// Whether `field` changed.
    pub fn contains(&self, field: &str) -> bool {
        self.0.iter().any(|f| f == field)
    }

    /// Whether every changed field is one of `fields` (what a stage can apply in place).
    pub fn only(&self, fields: &[&str]) -> bool {
        self.0.iter().all(|f| fields.contains(&f.as_str()))
    }

    /// The changed fields.
    pub fn fields(&self) -> &'a [String] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_are_checked_against_what_applies_in_place() {
        let fields = vec!["zones".to_string(), "lines".to_string()];
        let c = Changed::new(&fields);
        assert!(c.contains("zones") && !c.contains("anchor"));
        assert!(c.only(&["zones", "lines", "anchor"]));
        assert!(!c.only(&["zones"]));
        assert!(Changed::new(&[]).only(&[]));
    }
}
