//! evidence: see ARCHITECTURE.md.
