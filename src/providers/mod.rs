//! Payment processors behind one trait (placeholder, being written).
