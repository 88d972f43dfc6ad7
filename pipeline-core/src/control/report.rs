//! What a stage says of itself in its state: the decoder chosen, the model and backend, the
//! spool backlog, a camera's stream status.

use std::collections::BTreeMap;

use serde_json::Value;

/// Named facts a stage reports about itself (its `report` hook fills one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report(BTreeMap<String, Value>);

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Report::default()
    }

    /// Set `key` to `value` (a string, a number, a bool, or any JSON value).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Every fact, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
