//! The crate's single integration-test binary; each module covers one area of the public API.

mod data;
mod deletes;
mod filtered;
mod persistence;
mod props;
mod recall;
