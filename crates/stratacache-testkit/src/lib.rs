#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Test-support code: the conformance suite's job is to panic with a message saying what broke, so
// `unwrap`, `expect` and `panic!` are how it reports (clippy allows them in `#[cfg(test)]` code only,
// and this library is only ever used from tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod coherence;
#[cfg(feature = "compute")]
#[cfg_attr(docsrs, doc(cfg(feature = "compute")))]
pub mod compute;
pub mod conformance;
pub mod data;
pub mod double;
#[cfg(feature = "fault")]
pub mod fault;
#[cfg(feature = "compute")]
#[cfg_attr(docsrs, doc(cfg(feature = "compute")))]
pub mod freshness;
#[cfg(feature = "redis")]
pub mod redis;
pub mod scan_keys;
