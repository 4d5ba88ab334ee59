//! letter: see ARCHITECTURE.md.
