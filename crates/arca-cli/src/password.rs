//! Where passwords come from: a file, the environment, or a TTY prompt.
//! Passwords are never logged or echoed.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The repository password: `--password-file`, then `ARCA_PASSWORD`, then a prompt.
pub fn repository_password(file: Option<&Path>) -> Result<Vec<u8>> {
    if let Some(path) = file {
        return read_file(path);
    }
    if let Ok(pw) = std::env::var("ARCA_PASSWORD") {
        return Ok(pw.into_bytes());
    }
    prompt("repository password: ", "set ARCA_PASSWORD or pass --password-file")
}

/// A new password: `--new-password-file`, then `ARCA_NEW_PASSWORD`, then a prompt (twice).
pub fn new_password(file: Option<&Path>) -> Result<Vec<u8>> {
    if let Some(path) = file {
        return read_file(path);
    }
    if let Ok(pw) = std::env::var("ARCA_NEW_PASSWORD") {
        return Ok(pw.into_bytes());
    }
    let first = prompt("new password: ", "set ARCA_NEW_PASSWORD or pass --new-password-file")?;
    let second = prompt("repeat new password: ", "")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}

/// Like `repository_password`, but a new repository's password is asked twice.
pub fn init_password(file: Option<&Path>) -> Result<Vec<u8>> {
    if file.is_some() || std::env::var_os("ARCA_PASSWORD").is_some() {
        return repository_password(file);
    }
    let first = prompt("new repository password: ", "set ARCA_PASSWORD or pass --password-file")?;
    let second = prompt("repeat password: ", "")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading password file {}", path.display()))?;
    let pw = text.trim_end_matches(['\n', '\r']);
    if pw.is_empty() {
        bail!("password file {} is empty", path.display());
    }
    Ok(pw.as_bytes().to_vec())
}

fn prompt(label: &str, hint: &str) -> Result<Vec<u8>> {
    if !std::io::stdin().is_terminal() {
        bail!("no password given and no terminal to ask on: {hint}");
    }
    let pw = rpassword::prompt_password(label).context("reading password from the terminal")?;
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(pw.into_bytes())
}
