//! Rendering results as a table (for people) or JSON/YAML (for pipelines).
//! A JSON result is always a single document on stdout.

use anyhow::Result;
use comfy_table::{Table, presets::NOTHING};
use serde::Serialize;

use crate::cli::OutputFormat;

/// A command result that also knows its human rendering.
pub trait Render: Serialize {
    fn human(&self) -> String;
}

pub fn emit<T: Render>(format: OutputFormat, value: &T) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let text = value.human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => print!("{}", serde_yaml::to_string(value)?),
    }
    Ok(())
}

/// The log of a backup or restore, printed as is for people.
#[derive(Serialize)]
pub struct LogOutput {
    pub name: String,
    pub log: String,
}

impl Render for LogOutput {
    fn human(&self) -> String {
        self.log.clone()
    }
}

/// A borderless table like kubectl's.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        t.add_row(row);
    }
    t.to_string().lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// Bytes in binary units, e.g. `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
