//! One module per group of subcommands; each subcommand is one function.

pub mod admin;
pub mod integration;
pub mod search;
pub mod serve;
