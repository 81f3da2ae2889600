//! Fixtures shared by the cluster tests.

pub mod app;
