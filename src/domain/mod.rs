//! The pure domain (placeholder, being written).
