//! Test doubles for the seams: an in-memory S3 ([`MemoryStore`]), a fault-injecting wrapper
//! for any store ([`FaultyStore`]), an in-memory SQS queue on tokio's clock ([`MemoryQueue`])
//! and a recording publisher ([`MemoryPublisher`]).
//!
//! Compiled only with the `testkit` feature (and in this crate's own unit tests): the package's
//! tests, the simulator and the examples enable it through the dev-dependency on the package
//! itself, so `cargo build --release` of the daemon carries none of it. The contract tests
//! (`tests/it/replication/contract.rs`) hold the in-memory store to what the emulator does.

pub mod faulty;
pub mod memory;
pub mod publisher;
pub mod queue;

pub use faulty::FaultyStore;
pub use memory::{Lacks, MemoryStore};
pub use publisher::MemoryPublisher;
pub use queue::MemoryQueue;
