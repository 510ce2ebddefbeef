//! The runtime's one integration-test binary.

mod abuse;
mod cache;
mod componentized;
mod egress;
mod guests;
mod js;
mod py;
mod runs;
mod support;
mod wat;
