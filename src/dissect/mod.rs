//! dissect: see ARCHITECTURE.md.
