//! `arca repo key …`: several passwords can open one repository.

use anyhow::{Result, bail};
use arca_repo::{Id, KdfParams};
use serde::Serialize;

use crate::cli::KeyCommand;
use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit, table};

pub fn run(ctx: &Context, cmd: KeyCommand) -> Result<i32> {
    let repo = ctx.open_repo()?;
    match cmd {
        KeyCommand::Add(args) => {
            let password = crate::password::new_password(args.new_password_file.as_deref())?;
            let id = repo.add_key(&password, KdfParams::default())?;
            emit(ctx.output(), &KeyChange { added: Some(id.to_hex()), removed: None })?;
        }
        KeyCommand::Passwd(args) => {
            let password = crate::password::new_password(args.new_password_file.as_deref())?;
            let id = repo.add_key(&password, KdfParams::default())?;
            // The new key exists before the old one goes, so no moment is keyless.
            repo.remove_key(&repo.key_id())?;
            emit(ctx.output(), &KeyChange { added: Some(id.to_hex()), removed: Some(repo.key_id().to_hex()) })?;
        }
        KeyCommand::Remove { id } => {
            let id = resolve(&repo, &id)?;
            if id == repo.key_id() {
                bail!("key {} is the one in use; open the repository with another password to remove it", id.short());
            }
            repo.remove_key(&id)?;
            emit(ctx.output(), &KeyChange { added: None, removed: Some(id.to_hex()) })?;
        }
        KeyCommand::List => {
            let current = repo.key_id();
            let keys = repo
                .list_keys()?
                .into_iter()
                .map(|(id, k)| KeyRow {
                    current: id == current,
                    id: id.to_hex(),
                    username: k.username,
                    hostname: k.hostname,
                    created: k.created.to_rfc3339(),
                })
                .collect();
            emit(ctx.output(), &KeyList { keys })?;
        }
        KeyCommand::Log => emit(ctx.output(), &KeyLog(repo.key_log()?))?,
    }
    Ok(exit::OK)
}

fn resolve(repo: &arca_repo::Repository, prefix: &str) -> Result<Id> {
    let hits: Vec<Id> =
        repo.list_keys()?.into_iter().map(|(id, _)| id).filter(|id| id.to_hex().starts_with(prefix)).collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => bail!("key {prefix:?} not found; list keys with `arca repo key list`"),
        _ => bail!("key prefix {prefix:?} is ambiguous ({} keys match)", hits.len()),
    }
}

#[derive(Serialize)]
struct KeyChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<String>,
}

impl Render for KeyChange {
    fn human(&self) -> String {
        let mut out = Vec::new();
        if let Some(a) = &self.added {
            out.push(format!("added key {}", &a[..8]));
        }
        if let Some(r) = &self.removed {
            out.push(format!("removed key {}", &r[..8]));
        }
        out.join("\n")
    }
}

#[derive(Serialize)]
struct KeyRow {
    id: String,
    current: bool,
    username: String,
    hostname: String,
    created: String,
}

#[derive(Serialize)]
struct KeyList {
    keys: Vec<KeyRow>,
}

impl Render for KeyList {
    fn human(&self) -> String {
        table(
            &[" ", "id", "user", "host", "created"],
            self.keys.iter().map(|k| {
                vec![
                    if k.current { "*".into() } else { String::new() },
                    k.id[..8].to_string(),
                    k.username.clone(),
                    k.hostname.clone(),
                    k.created.clone(),
                ]
            }),
        )
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct KeyLog(Vec<arca_repo::keylog::KeyEvent>);

impl Render for KeyLog {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no key changes recorded (the repository predates the key log)".into();
        }
        table(
            &["time", "action", "key", "by", "user@host"],
            self.0.iter().map(|e| {
                vec![
                    e.time.to_rfc3339(),
                    format!("{:?}", e.action).to_lowercase(),
                    e.key.short(),
                    e.by.map(|b| b.short()).unwrap_or_else(|| "(init)".into()),
                    format!("{}@{}", e.username, e.hostname),
                ]
            }),
        )
    }
}
