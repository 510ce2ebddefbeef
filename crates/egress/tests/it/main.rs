//! The egress policy's one integration-test binary: every special-purpose range by example,
//! embedded IPv4 by property, and URL hosts as the `url` crate normalises them.

mod classes;
mod embedding;
mod hosts;
