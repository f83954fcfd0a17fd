//! Helpers the integration tests share.

pub mod cli;
pub mod cluster;
pub mod process;
