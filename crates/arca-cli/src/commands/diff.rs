//! `arca diff A B`: drift between two object sets, each a backup, the live
//! cluster (`live`) or a directory of manifests.

use std::path::Path;

use anyhow::Result;
use arca_kube::sources::{self, Drift, Source};
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit};

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// A backup name, `live`, or a directory of manifests
    pub a: String,
    /// A backup name, `live`, or a directory of manifests
    pub b: String,
    /// Exit with 3 when there are differences (for CI drift checks)
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Shown(Drift);

impl Render for Shown {
    fn human(&self) -> String {
        let d = &self.0;
        if d.is_empty() {
            return "no differences".into();
        }
        let mut s = String::new();
        for k in &d.added {
            s.push_str(&format!("+ {k}\n"));
        }
        for k in &d.removed {
            s.push_str(&format!("- {k}\n"));
        }
        for (k, changes) in &d.changed {
            s.push_str(&format!("~ {k}\n"));
            for c in changes {
                let line = match c {
                    arca_kube::diff::Change::Added { path, value } => {
                        format!("    + {path}: {value}")
                    }
                    arca_kube::diff::Change::Removed { path, value } => {
                        format!("    - {path}: {value}")
                    }
                    arca_kube::diff::Change::Changed { path, old, new } => {
                        format!("    ~ {path}: {old} -> {new}")
                    }
                };
                s.push_str(&line);
                s.push('\n');
            }
        }
        s
    }
}

/// What `source` names; `live` connects to the cluster (only then).
async fn source(ctx: &Context, kube: &KubeOpts, source: &str) -> Result<Source> {
    if source == "live" {
        let (api, _) = kube_opts::connect(kube).await?;
        return Ok(Source::Live(api));
    }
    if Path::new(source).is_dir() {
        return Ok(Source::Dir(Path::new(source).to_path_buf()));
    }
    Ok(Source::Backup { repo: ctx.open_repo_with_index()?, name: source.to_string() })
}

/// Exit code 0, or with `--exit-code` 3 when there are differences.
pub fn run(ctx: &Context, kube: &KubeOpts, args: &DiffArgs) -> Result<i32> {
    let rt = kube_opts::runtime()?;
    let drift = rt.block_on(async {
        let a = source(ctx, kube, &args.a).await?;
        let b = source(ctx, kube, &args.b).await?;
        anyhow::Ok(sources::compare(&a, &b).await?)
    })?;
    let code = if drift.is_empty() || !args.exit_code { exit::OK } else { exit::PARTIAL };
    emit(ctx.output(), &Shown(drift))?;
    Ok(code)
}
