//! One module per command group.

mod key;
mod repo;
mod snapshots;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Context;

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = Context { global: cli.global };
    match cli.command {
        Command::Repo(cmd) => repo::run(&ctx, cmd),
        Command::Snapshots(args) => snapshots::run(&ctx, &args),
        Command::Fs(_) | Command::Stream(_) => anyhow::bail!("not built yet"),
    }
}
