//! Helpers the integration tests share.

pub mod cluster;
pub mod process;
