//! direct (being written).
