//! `arca server`: Arca in the cluster. Controllers reconcile the `arca.io`
//! resources (`arca-api`) by calling the same libraries the CLI calls
//! (`arca-kube`, `arca-volumes`, `arca-apps`), so a `Backup` object and
//! `arca backup create` do the same work.

pub mod backup;
pub mod blueprints;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod executor;
pub mod http;
pub mod leader;
pub mod location;
pub mod maintenance;
pub mod metrics;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod server;
pub mod slots;
pub mod tenant;
pub mod ui;
pub mod work;

pub use clock::{Clock, SystemClock};
pub use config::ServerConfig;
pub use error::{Error, Result};
