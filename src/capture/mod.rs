//! capture: see ARCHITECTURE.md.
