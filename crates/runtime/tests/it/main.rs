//! The runtime's one integration-test binary.

mod abuse;
mod cache;
mod egress;
mod guests;
mod js;
mod runs;
mod support;
mod wat;
