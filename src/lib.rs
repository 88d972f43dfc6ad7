//! edgeflow
