//! decode: see ARCHITECTURE.md.
