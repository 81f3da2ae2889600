//! The hook options of `arca backup create` (`--hooks`, `--consistency`,
//! `--freeze-timeout`), the freezer handed to the volume phase, the thaw on
//! SIGINT/SIGTERM, and the hooks line of `arca backup describe`.

use anyhow::{Context as _, Result, anyhow};
use arca_apps::hooks::backup::{BackupHooks, HookOptions, ThawBy};
use arca_apps::hooks::file::HooksFile;
use arca_apps::hooks::spec::parse_duration;
use arca_kube::data::DataPhase;
use arca_volumes::freeze::Consistency;
use clap::Args;
use serde_json::Value;

use super::backup_volumes::VolumeArgs;

#[derive(Args, Debug, Clone)]
pub struct HookArgs {
    /// A hooks file (YAML, `hooks: [...]`): pre/post commands in pods chosen by namespace and labels
    #[arg(long)]
    pub hooks: Option<std::path::PathBuf>,
    /// pod: freeze each pod around its own volumes' snapshots; group: freeze every pod, take all snapshots at once, then thaw all
    #[arg(long, default_value = "pod")]
    pub consistency: String,
    /// The longest a pod stays frozen before its post hooks run anyway (default: its pre hooks' timeouts plus --volume-timeout)
    #[arg(long)]
    pub freeze_timeout: Option<String>,
}

/// The volume phase with hooks around its snapshots, and the hooks (for the thaw on a signal).
pub fn data_phase(
    volumes: &VolumeArgs,
    args: &HookArgs,
    repo_url: &str,
    password: &[u8],
) -> Result<(Option<DataPhase>, BackupHooks)> {
    let mut opts = volumes.options(repo_url, password)?;
    let file = match &args.hooks {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the hooks file {}", path.display()))?;
            Some(HooksFile::parse(&text, &path.display().to_string()).map_err(|e| anyhow!(e))?)
        }
        None => None,
    };
    let freeze_timeout = match &args.freeze_timeout {
        Some(t) => Some(parse_duration(t).map_err(|e| anyhow!("--freeze-timeout: {e}"))?),
        None => None,
    };
    let hooks = BackupHooks::new(HookOptions { file, freeze_timeout, volume_timeout: opts.timeout });
    opts.consistency = args.consistency.parse::<Consistency>().map_err(|e| anyhow!(e))?;
    Ok((Some(arca_apps::phases::volume_phase(opts, Some(hooks.clone()))), hooks))
}

/// Runs the backup; on SIGINT or SIGTERM it is stopped, every frozen pod
/// is thawed, and the process exits 130 or 143.
pub async fn interruptible<T>(hooks: &BackupHooks, work: impl std::future::Future<Output = T>) -> T {
    let signal = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(mut int), Ok(mut term)) => tokio::select! {
                    _ = int.recv() => ("SIGINT", 130),
                    _ = term.recv() => ("SIGTERM", 143),
                },
                _ => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("interrupt", 130)
        }
    };
    let (name, code) = tokio::select! {
        done = work => return done,
        got = signal => got,
    };
    // The backup is dropped (its snapshot never written, its lock released); then the thaw.
    hooks.thaw_all(ThawBy::Interrupt).await;
    eprintln!("arca: {name}: backup stopped; every frozen pod was thawed (post hooks run); no backup was written");
    std::process::exit(code);
}

/// `hooks: 4 run (3 Succeeded, 1 Failed); longest freeze 1.2s`.
pub fn hooks_line(hooks: &[Value]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for h in hooks {
        *counts.entry(h["state"].as_str().unwrap_or("unreadable")).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
    let longest = hooks
        .iter()
        .filter_map(|h| h["freeze_secs"].as_f64())
        .fold(None, |m: Option<f64>, f| Some(m.map_or(f, |m| m.max(f))));
    let mut s = format!("{} hook run(s): {}", hooks.len(), parts.join(", "));
    if let Some(l) = longest {
        s.push_str(&format!("; longest freeze {l:.2}s"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hooks_line_counts_states_and_the_longest_freeze() {
        let h = [
            json!({"state": "Succeeded"}),
            json!({"state": "Succeeded", "freeze_secs": 0.5}),
            json!({"state": "Failed", "freeze_secs": 1.25}),
        ];
        assert_eq!(hooks_line(&h), "3 hook run(s): 1 Failed, 2 Succeeded; longest freeze 1.25s");
    }
}
