//! nomad (being written).
