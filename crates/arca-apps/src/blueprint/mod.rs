//! Blueprints: how to back up and restore one kind of application as a
//! logical dump streamed through `pods/exec` (`docs/BLUEPRINTS.md`).
//!
//! A blueprint ([`format`]) names the container its actions run in and the
//! commands: each backup stream is one command's stdout, stored as a
//! `stream` snapshot straight from the exec connection ([`stream`]); each
//! restore entry gets a stored stream on its stdin. Objects are bound by
//! annotation or a bindings file ([`binding`]); the built-in blueprints
//! (PostgreSQL, MariaDB/MySQL, Redis) and the user's are in [`library`].
//! [`backup`] and [`restore`] are the data phases the CLI chains in.

pub mod app;
pub mod backup;
pub mod binding;
pub mod format;
pub mod library;
pub mod record;
pub mod restore;
pub mod stream;
pub mod template;

pub use backup::{BackupSettings, BlueprintBackup};
pub use binding::Bindings;
pub use format::Blueprint;
pub use library::Library;
pub use record::{DumpRecord, DumpRestore};
pub use restore::{BlueprintRestore, RestoreSettings};
