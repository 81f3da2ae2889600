//! `arca restore create`'s restore hooks: annotations on the restored pods
//! and pod templates (`arca_apps::hooks::restore`).

use std::sync::Arc;
use std::time::Duration;

use arca_apps::hooks::HookRecord;
use arca_apps::hooks::restore::{RestoreHookOptions, RestoreHooks};
use arca_kube::data::{RestoreChain, RestoreDataPhase, RestorePhase};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct RestoreHookArgs {
    /// Do not run restore hooks (init-container hooks are not injected either)
    #[arg(long)]
    pub no_restore_hooks: bool,
    /// Caps how long any restore hook waits for its pod to run or be Ready
    /// (a hook's own wait-timeout, default 10m, applies when shorter)
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub restore_hook_wait_timeout: Option<Duration>,
}

impl RestoreHookArgs {
    /// The restore-hook phase, unless switched off.
    pub fn phase(&self) -> Option<Arc<dyn RestoreDataPhase>> {
        (!self.no_restore_hooks).then(|| {
            Arc::new(RestoreHooks::new(RestoreHookOptions { max_wait: self.restore_hook_wait_timeout }))
                as Arc<dyn RestoreDataPhase>
        })
    }
}

/// One restore data phase out of several (none: `None`).
pub fn chain(mut phases: Vec<Arc<dyn RestoreDataPhase>>) -> Option<RestorePhase> {
    match phases.len() {
        0 => None,
        1 => phases.pop().map(RestorePhase),
        _ => Some(RestorePhase(Arc::new(RestoreChain(phases)))),
    }
}

/// One line per restore hook run, for a restore's summary.
pub fn summary_lines(hooks: &[Value]) -> Vec<String> {
    hooks
        .iter()
        .map(|v| match serde_json::from_value::<HookRecord>(v.clone()) {
            Ok(h) => format!(
                "  hook in {} container {:?}: {:?} in {:.1}s{}",
                h.pod,
                h.container,
                h.state,
                h.duration_secs,
                h.reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            Err(_) => format!("  hook {v}"),
        })
        .collect()
}
