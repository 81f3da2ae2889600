//! Arca's application consistency, beside the volume data of
//! `arca-volumes`: hooks that run commands in the right container of a pod
//! around its own snapshots ([`hooks`]), blueprints that stream an
//! application's logical backup (a database dump) through `pods/exec`
//! straight into the repository and back ([`blueprint`]), and PostgreSQL's
//! write-ahead log archived into the repository for point-in-time recovery
//! ([`wal`]).
//!
//! Everything that touches a container goes through `arca_kube::exec`;
//! choices that need no cluster (which container, which hooks, which
//! blueprint, which WAL segments) are pure functions with unit tests.

pub mod blueprint;
pub mod hooks;
pub mod phases;
pub mod wal;
