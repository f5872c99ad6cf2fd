//! kubectl (being written).
