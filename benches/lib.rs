//! Benchmarks of the flowatlas hot path; see `parse.rs`.
