//! attribute: see ARCHITECTURE.md.
pub mod directory;
