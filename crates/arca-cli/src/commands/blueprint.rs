//! `arca blueprint list|show NAME|validate FILE`: the blueprints Arca knows
//! (built in, and the user's from `--blueprints DIR|FILE`).

use anyhow::{Result, anyhow};
use arca_apps::blueprint::{Blueprint, Library};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit, table};

#[derive(Subcommand, Debug)]
pub enum BlueprintCommand {
    /// List the built-in blueprints and the user's
    List(LibraryArgs),
    /// Show one blueprint as YAML
    Show {
        /// Blueprint name
        name: String,
        #[command(flatten)]
        library: LibraryArgs,
    },
    /// Check a blueprint file (unknown fields, placeholders, commands)
    Validate {
        /// The YAML file
        file: std::path::PathBuf,
    },
}

/// Where users' blueprints are.
#[derive(Args, Debug, Clone, Default)]
pub struct LibraryArgs {
    /// Blueprint files or directories of `*.yaml` (repeatable); a name of a built-in one replaces it
    #[arg(long, value_name = "DIR|FILE")]
    pub blueprints: Vec<std::path::PathBuf>,
}

impl LibraryArgs {
    pub fn library(&self) -> Result<Library> {
        Library::load(&self.blueprints).map_err(|e| anyhow!(e))
    }
}

pub fn run(ctx: &Context, cmd: BlueprintCommand) -> Result<i32> {
    match cmd {
        BlueprintCommand::List(args) => list(ctx, &args),
        BlueprintCommand::Show { name, library } => show(ctx, &name, &library),
        BlueprintCommand::Validate { file } => validate(ctx, &file),
    }
}

#[derive(Serialize)]
struct Listed {
    name: String,
    origin: String,
    streams: Vec<String>,
    description: String,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Listing(Vec<Listed>);

impl Render for Listing {
    fn human(&self) -> String {
        table(
            &["name", "origin", "streams", "description"],
            self.0.iter().map(|l| {
                let first = l.description.split(". ").next().unwrap_or_default();
                vec![l.name.clone(), l.origin.clone(), l.streams.join(", "), first.to_string()]
            }),
        )
    }
}

fn list(ctx: &Context, args: &LibraryArgs) -> Result<i32> {
    let lib = args.library()?;
    let out = lib
        .iter()
        .map(|(bp, origin)| Listed {
            name: bp.name.clone(),
            origin: origin.to_string(),
            streams: bp.backup.streams.iter().map(|s| s.name.clone()).collect(),
            description: bp.description.trim().to_string(),
        })
        .collect();
    emit(ctx.output(), &Listing(out))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
#[serde(transparent)]
struct Shown(Blueprint);

impl Render for Shown {
    fn human(&self) -> String {
        serde_yaml::to_string(&self.0).unwrap_or_else(|e| format!("cannot show blueprint {}: {e}", self.0.name))
    }
}

fn show(ctx: &Context, name: &str, args: &LibraryArgs) -> Result<i32> {
    let lib = args.library()?;
    let bp = lib.get(name).ok_or_else(|| anyhow!(lib.unknown(name)))?;
    emit(ctx.output(), &Shown(bp.clone()))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Valid {
    file: String,
    name: String,
    streams: usize,
}

impl Render for Valid {
    fn human(&self) -> String {
        format!("{}: blueprint {} is valid ({} backup stream(s))", self.file, self.name, self.streams)
    }
}

fn validate(ctx: &Context, file: &std::path::Path) -> Result<i32> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| anyhow!("reading blueprint {shown}: {e}"))?;
    let bp = Blueprint::parse(&text, &shown)?;
    emit(ctx.output(), &Valid { file: shown, name: bp.name.clone(), streams: bp.backup.streams.len() })?;
    Ok(exit::OK)
}
