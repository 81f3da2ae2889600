//! One module per command group.

pub mod backup;
mod backup_blueprints;
mod backup_hooks;
mod backup_volumes;
pub mod blueprint;
pub mod diff;
pub mod export;
mod fs;
pub mod install;
mod key;
pub mod location;
mod maintenance;
pub mod mover;
mod repair;
mod repo;
pub mod report;
pub mod restore;
mod restore_blueprints;
mod restore_hooks;
pub mod restore_pitr;
pub mod schedule;
pub mod server;
mod server_client;
mod snapshots;
mod stream;
pub mod verify;
pub mod volume;
pub mod volume_restore;
pub mod wal;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Context;

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = Context::new(cli.global);
    let result = match cli.command {
        Command::Repo(cmd) => repo::run(&ctx, cmd),
        Command::Snapshots(args) => snapshots::run(&ctx, &args),
        Command::Fs(cmd) => fs::run(&ctx, cmd),
        Command::Stream(cmd) => stream::run(&ctx, cmd),
        Command::Backup(cmd) => backup::run(&ctx, &ctx.global.kube, cmd),
        Command::Restore(cmd) => restore::run(&ctx, &ctx.global.kube, cmd),
        Command::Export(args) => export::run(&ctx, &args),
        Command::Diff(args) => diff::run(&ctx, &ctx.global.kube, &args),
        Command::Mover(cmd) => mover::run(&ctx, cmd),
        Command::Volume(cmd) => volume::run(&ctx, cmd),
        Command::Wal(cmd) => wal::run(&ctx, cmd),
        Command::Blueprint(cmd) => blueprint::run(&ctx, cmd),
        Command::Install(args) => install::run(&ctx, &ctx.global.kube, &args),
        Command::Schedule(cmd) => schedule::run(&ctx, &ctx.global.kube, cmd),
        Command::Server(args) => server::run(&ctx.global.kube, &args),
        Command::Location(cmd) => location::run(&ctx, &ctx.global.kube, cmd),
        Command::Report(args) => report::run(&ctx, &args),
        Command::Verify(args) => verify::run(&ctx, &ctx.global.kube, &args),
        Command::Drills => verify::list(&ctx),
    };
    // What the command cost on the storage, for `-v`: one line at the end.
    let requests = ctx.requests();
    if ctx.global.verbose > 0 && requests.total() > 0 {
        eprintln!("{}", requests.line());
    }
    result
}
