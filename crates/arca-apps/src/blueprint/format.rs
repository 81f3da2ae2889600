//! The blueprint file format (YAML; `docs/BLUEPRINTS.md`). Unknown fields
//! are refused, naming the field and the file, so a typo never turns into a
//! silently skipped step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::template;

/// How to back up and restore one kind of application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Blueprint {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub backup: BackupAction,
    pub restore: RestoreAction,
}

/// Which container of the bound pod an action runs in. Empty: the first
/// application container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerSelector {
    /// The container of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Else the first container whose image contains one of these (e.g. `postgres`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Else the first container that sets one of these environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// The `backup` action: streams, each the stdout of one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupAction {
    #[serde(default)]
    pub container: ContainerSelector,
    /// Environment variables set from the bound Secret's keys
    /// (`blueprints.arca.io/secret`): `VAR: key`. Passed on the command's
    /// stdin, never in its argv.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
    pub streams: Vec<BackupStream>,
}

/// One stream of a backup (or, with `forEach`, one per item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupStream {
    /// The stream's name; with `forEach` it holds `{{item}}`.
    pub name: String,
    /// A command whose stdout lines are the items (e.g. the databases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Vec<String>>,
    /// Run the command batch by batch: it gets `{{cursor}}` (first `0`),
    /// prints the next cursor on its first line, then the batch's data;
    /// done when the cursor printed is `0` again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cursor: bool,
    pub command: Vec<String>,
}

/// The `restore` action: each stream goes into the stdin of the first
/// entry whose `match` fits its name, in the order they were backed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestoreAction {
    #[serde(default)]
    pub container: ContainerSelector,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
    pub streams: Vec<RestoreStream>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestoreStream {
    /// A stream name, or a pattern with one `*` that becomes `{{item}}`.
    #[serde(rename = "match")]
    pub matches: String,
    pub command: Vec<String>,
}

/// Why a blueprint file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blueprint {source_name}: {message}")]
pub struct FormatError {
    pub source_name: String,
    pub message: String,
}

impl Blueprint {
    /// Parses and checks one blueprint; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Blueprint, FormatError> {
        let err = |message: String| FormatError { source_name: source.to_string(), message };
        let bp: Blueprint = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
        bp.check().map_err(err)?;
        Ok(bp)
    }

    /// A blueprint given as JSON (the `spec` of a `Blueprint` resource with
    /// its name), checked by the same rules as a file.
    pub fn from_json(value: serde_json::Value, source: &str) -> Result<Blueprint, FormatError> {
        let err = |message: String| FormatError { source_name: source.to_string(), message };
        let bp: Blueprint = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        bp.check().map_err(err)?;
        Ok(bp)
    }

    /// Names, commands and placeholders that can work.
    fn check(&self) -> Result<(), String> {
        if !is_name(&self.name) {
            return Err(format!("name {:?} must be lower-case letters, digits and `-`", self.name));
        }
        if self.backup.streams.is_empty() {
            return Err("backup.streams is empty: a backup needs at least one stream".into());
        }
        if self.restore.streams.is_empty() {
            return Err("restore.streams is empty: a restore needs at least one entry".into());
        }
        check_env(&self.backup.secret_env, "backup.secretEnv")?;
        check_env(&self.restore.secret_env, "restore.secretEnv")?;
        for (i, s) in self.backup.streams.iter().enumerate() {
            let at = format!("backup.streams[{i}]");
            let mut vars = vec!["namespace", "name", "pod", "container"];
            if s.for_each.is_some() {
                vars.push("item");
            }
            if s.cursor {
                vars.push("cursor");
            }
            check_command(&s.command, &vars, &format!("{at}.command"))?;
            if let Some(list) = &s.for_each {
                check_command(list, &["namespace", "name", "pod", "container"], &format!("{at}.forEach"))?;
                if !s.name.contains("{{item}}") {
                    return Err(format!("{at}.name {:?} must hold {{{{item}}}} (one stream per item)", s.name));
                }
            }
            template::check(&s.name, &vars).map_err(|e| format!("{at}.name: {e}"))?;
            let plain = s.name.replace("{{item}}", "x");
            if !is_stream_name(&plain) {
                return Err(format!("{at}.name {:?}: letters, digits, `.`, `_` and `-` only", s.name));
            }
        }
        for (i, s) in self.restore.streams.iter().enumerate() {
            let at = format!("restore.streams[{i}]");
            if s.matches.matches('*').count() > 1 {
                return Err(format!("{at}.match {:?} may hold one `*` at most", s.matches));
            }
            let mut vars = vec!["namespace", "name", "pod", "container", "stream"];
            if s.matches.contains('*') {
                vars.push("item");
            }
            check_command(&s.command, &vars, &format!("{at}.command"))?;
        }
        Ok(())
    }

    /// The restore entry for a stream, and the item its `*` matched.
    pub fn restore_for(&self, stream: &str) -> Option<(&RestoreStream, Option<String>)> {
        self.restore.streams.iter().find_map(|r| glob_item(&r.matches, stream).map(|item| (r, item)))
    }
}

/// `Some(None)` for an exact match, `Some(Some(item))` for what `*` matched.
fn glob_item(pattern: &str, name: &str) -> Option<Option<String>> {
    match pattern.split_once('*') {
        None => (pattern == name).then_some(None),
        Some((pre, post)) => {
            let ok = name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post);
            ok.then(|| Some(name[pre.len()..name.len() - post.len()].to_string()))
        }
    }
}

fn check_command(argv: &[String], vars: &[&str], at: &str) -> Result<(), String> {
    if argv.is_empty() || argv[0].is_empty() {
        return Err(format!("{at} is empty: give the program and its arguments as a list"));
    }
    for a in argv {
        template::check(a, vars).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>, at: &str) -> Result<(), String> {
    for (var, key) in env {
        let ok = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("{at}: {var:?} is not an environment variable name"));
        }
        if key.is_empty() {
            return Err(format!("{at}.{var}: name the Secret key it comes from"));
        }
    }
    Ok(())
}

pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A stream name as it goes into a snapshot's name.
pub fn is_stream_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: demo
backup:
  container: {images: [demo]}
  streams:
    - name: all
      command: [dump-all]
    - name: "db-{{item}}"
      forEach: [list-dbs]
      command: [dump, "{{item}}"]
restore:
  streams:
    - match: all
      command: [load-all]
    - match: "db-*"
      command: [load, "{{item}}"]
"#;

    #[test]
    fn a_good_blueprint_parses() {
        let bp = Blueprint::parse(GOOD, "demo.yaml").unwrap();
        assert_eq!(bp.backup.streams.len(), 2);
        let (r, item) = bp.restore_for("db-shop").unwrap();
        assert_eq!(r.command[0], "load");
        assert_eq!(item.as_deref(), Some("shop"));
        assert_eq!(bp.restore_for("all").unwrap().1, None);
        assert!(bp.restore_for("other").is_none());
    }

    #[test]
    fn unknown_fields_are_refused_naming_field_and_file() {
        let text = GOOD.replace("forEach:", "for_each:");
        let e = Blueprint::parse(&text, "my/demo.yaml").unwrap_err().to_string();
        assert!(e.contains("my/demo.yaml") && e.contains("for_each"), "{e}");
    }

    #[test]
    fn placeholders_must_be_known_where_used() {
        let text = GOOD.replace("[dump-all]", "[dump-all, \"{{item}}\"]");
        let e = Blueprint::parse(&text, "f").unwrap_err().to_string();
        assert!(e.contains("backup.streams[0].command") && e.contains("item"), "{e}");
        let text = GOOD.replace("name: \"db-{{item}}\"", "name: db");
        let e = Blueprint::parse(&text, "f").unwrap_err().to_string();
        assert!(e.contains("{{item}}"), "{e}");
    }

    #[test]
    fn bad_names_and_empty_commands_are_refused() {
        assert!(Blueprint::parse(&GOOD.replace("name: demo", "name: Demo"), "f").is_err());
        assert!(Blueprint::parse(&GOOD.replace("[dump-all]", "[]"), "f").is_err());
        let text = GOOD.replace("restore:\n", "restore:\n  secretEnv: {\"bad-name\": pw}\n");
        assert!(Blueprint::parse(&text, "f").unwrap_err().to_string().contains("bad-name"));
    }
}
