//! flow: see ARCHITECTURE.md.
