//! The webhooks crate's one integration-test binary.

mod delivery_guard;
