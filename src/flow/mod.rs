//! flow: see ARCHITECTURE.md.
pub mod reassembly;
