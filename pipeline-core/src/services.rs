//! Services: typed values an embedding program or the CLI hands to stages when they are built
//! (the HTTP server's frame inbox, a shared clock), without globals.
//!
//! ```
//! use edgeflow_core::Services;
//! struct Inbox(&'static str);
//! let mut services = Services::new();
//! services.insert(Inbox("frames"));
//! assert_eq!(services.get::<Inbox>().map(|i| i.0), Some("frames"));
//! assert!(services.get::<u32>().is_none());
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// A map from a type to one shared value of it. Cloning is cheap (the values are shared).
#[derive(Clone, Default)]
pub struct Services {
    values: HashMap<TypeId, (&'static str, Arc<dyn Any + Send + Sync>)>,
}

impl Services {
    /// No services.
    pub fn new() -> Self {
        Services::default()
    }

    /// Offer `value` to every stage; a second value of the same type replaces the first.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        self.insert_shared(Arc::new(value))
    }

    /// Offer an already shared value.
    pub fn insert_shared<T: Any + Send + Sync>(&mut self, value: Arc<T>) -> &mut Self {
        self.values
            .insert(TypeId::of::<T>(), (std::any::type_name::<T>(), value));
        self
    }

    /// The value of type `T`, if one was offered.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let (_, v) = self.values.get(&TypeId::of::<T>())?;
        v.clone().downcast::<T>().ok()
    }

    /// The type names of every value offered, sorted (for logs and errors).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.values.values().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
