//! Hooks: commands run through `pods/exec` in a chosen container of a pod.
//! Backup hooks freeze an application around exactly its own snapshots
//! ([`backup`]); restore hooks run once a restored pod is Ready, or as an
//! injected init container ([`restore`]). Each run is a [`HookRecord`] in
//! the backup's or restore's report.

pub mod annotations;
pub mod backup;
pub mod container;
pub mod file;
pub mod record;
pub mod restore;
pub mod spec;
pub mod watchdog;

pub use container::choose_container;
pub use record::{HookPhase, HookRecord, HookRun, HookState, OnError};
