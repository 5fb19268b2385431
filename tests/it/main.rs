//! The integration tests: one binary, so the AWS SDK is linked once.
//!
//! Two kinds of module:
//!
//! - on the in-memory test doubles (`s3_replicator::testkit`) and the real binary, always:
//!   `pipeline_logic` (with the deterministic simulation, `sim`), `large_objects_logic`,
//!   `check_config`;
//! - against the local emulator (moto's server on 127.0.0.1), with the `emulator-tests`
//!   feature, which `scripts/test.sh` enables after starting the emulator: every other module.
//!
//! So a plain `cargo test` on a fresh clone passes without any service, and
//! `scripts/test.sh` runs the whole suite.

mod common;
mod sim;

mod check_config;
mod large_objects_logic;
mod layers;
mod pipeline_logic;

#[cfg(feature = "emulator-tests")]
mod backfill_verify;
#[cfg(feature = "emulator-tests")]
mod crr_features;
#[cfg(feature = "emulator-tests")]
mod foreign_store;
#[cfg(feature = "emulator-tests")]
mod large_objects;
#[cfg(feature = "emulator-tests")]
mod operations;
#[cfg(feature = "emulator-tests")]
mod partition;
#[cfg(feature = "emulator-tests")]
mod reliability;
#[cfg(feature = "emulator-tests")]
mod replication;
#[cfg(feature = "emulator-tests")]
mod requests;
#[cfg(feature = "emulator-tests")]
mod tables;
