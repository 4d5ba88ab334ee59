//! whohosts: find who hosts the services seen in a packet capture.
//!
//! The pipeline runs in stages, one module each, every stage pointing only back
//! toward earlier ones (see `ARCHITECTURE.md`):
//! capture -> decode -> flow -> dissect -> services -> attribute -> report / letter,
//! with `evidence` hashing and sealing alongside.
#![forbid(unsafe_code)]
// The library serves this crate's binary and tests; its documentation is read with
// `cargo doc --document-private-items`, where links to private items resolve.
#![allow(rustdoc::private_intra_doc_links)]

pub mod atomic;
pub mod attribute;
pub mod capture;
pub mod content;
pub mod decode;
pub mod decrypt;
pub mod dissect;
pub mod evidence;
pub mod flow;
pub mod hash;
pub mod letter;
pub mod matching;
pub mod model;
pub mod pipeline;
pub mod recorder;
pub mod report;
pub mod services;
pub mod times;
