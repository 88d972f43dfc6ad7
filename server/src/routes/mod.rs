//! The handlers, one room per concern.

pub mod frames;
pub mod health;
pub mod page;
