//! attribute: see ARCHITECTURE.md.
