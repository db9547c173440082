//! Shared helpers for hookgate's cross-crate tests (servers, processes, free ports).
