//! Arca's pages, rendered on the server as plain HTML with inline SVG
//! charts: the dashboard of `arca server` (`/ui/`) and the one-file report
//! of `arca report --html`.
//!
//! Everything here is pure: callers turn their objects (custom resources,
//! snapshot reports) into the view models of [`model`], and get a page
//! back. The crate knows nothing of Kubernetes or of the repository, and no
//! page has a place for a Secret's value: the models carry names, counts and
//! messages only. Every interpolated string is escaped by `maud`.

pub mod chart;
pub mod drills;
pub mod format;
pub mod layout;
pub mod model;
pub mod overview;
pub mod pages;
pub mod report;
pub mod trends;

pub use layout::{Nav, PageContext};
pub use maud::Markup;
