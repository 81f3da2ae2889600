//! Backup hooks from pod annotations: `pre.hook.backup.arca.io/{container,
//! command,on-error,timeout}` and `post.…`, and Velero's
//! `*.hook.backup.velero.io/*` (Arca's win when a phase has both).

use std::collections::BTreeMap;

use super::record::OnError;
use super::spec::{DEFAULT_TIMEOUT, HookSpec, PodHooks, parse_duration};

const ARCA: &str = "hook.backup.arca.io";
const VELERO: &str = "hook.backup.velero.io";

/// The pod's annotation hooks (empty when it has none); a malformed
/// annotation is an error naming it.
pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<PodHooks, String> {
    Ok(PodHooks { pre: phase(annotations, "pre")?, post: phase(annotations, "post")? })
}

fn phase(annotations: &BTreeMap<String, String>, phase: &str) -> Result<Vec<HookSpec>, String> {
    for (domain, source) in [(ARCA, "annotation"), (VELERO, "velero-annotation")] {
        let key = |field: &str| format!("{phase}.{domain}/{field}");
        let get = |field: &str| annotations.get(&key(field)).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(command) = get("command") else {
            if let Some(field) = ["container", "on-error", "timeout"].into_iter().find(|f| get(f).is_some()) {
                return Err(format!(
                    "annotation {} is set but {} is missing: add the command",
                    key(field),
                    key("command")
                ));
            }
            continue;
        };
        let command = parse_command(command).map_err(|e| format!("annotation {}: {e}", key("command")))?;
        let on_error = match get("on-error") {
            Some(v) => OnError::parse(v)
                .ok_or_else(|| format!("annotation {}: {v:?} is neither Fail nor Continue", key("on-error")))?,
            None => OnError::Fail,
        };
        let timeout = match get("timeout") {
            Some(v) => parse_duration(v).map_err(|e| format!("annotation {}: {e}", key("timeout")))?,
            None => DEFAULT_TIMEOUT,
        };
        return Ok(vec![HookSpec {
            name: None,
            source: source.into(),
            container: get("container").map(str::to_string),
            command,
            on_error,
            timeout,
        }]);
    }
    Ok(Vec::new())
}

/// A JSON array of strings, or (as Velero takes it) a plain string as one argv word.
pub fn parse_command(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    let argv = if text.starts_with('[') {
        serde_json::from_str::<Vec<String>>(text).map_err(|e| {
            format!("{text:?} is not a JSON array of strings ({e}); give e.g. [\"sh\", \"-c\", \"sync\"]")
        })?
    } else {
        vec![text.to_string()]
    };
    if argv.is_empty() || argv[0].is_empty() {
        return Err("the command is empty".into());
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn arca_annotations_with_every_field() {
        let hooks = from_annotations(&map(&[
            ("pre.hook.backup.arca.io/container", "db"),
            ("pre.hook.backup.arca.io/command", r#"["sh", "-c", "fsfreeze -f /data"]"#),
            ("pre.hook.backup.arca.io/on-error", "Continue"),
            ("pre.hook.backup.arca.io/timeout", "2m"),
            ("post.hook.backup.arca.io/command", r#"["fsfreeze", "-u", "/data"]"#),
        ]))
        .unwrap();
        let pre = &hooks.pre[0];
        assert_eq!(pre.container.as_deref(), Some("db"));
        assert_eq!(pre.command, ["sh", "-c", "fsfreeze -f /data"]);
        assert_eq!((pre.on_error, pre.timeout), (OnError::Continue, Duration::from_secs(120)));
        assert_eq!(pre.source, "annotation");
        let post = &hooks.post[0];
        assert_eq!((post.on_error, post.timeout, post.container.as_deref()), (OnError::Fail, DEFAULT_TIMEOUT, None));
    }

    #[test]
    fn velero_annotations_and_plain_string_commands() {
        let hooks = from_annotations(&map(&[("pre.hook.backup.velero.io/command", "/freeze.sh")])).unwrap();
        assert_eq!(hooks.pre[0].command, ["/freeze.sh"]);
        assert_eq!(hooks.pre[0].source, "velero-annotation");
        assert!(hooks.post.is_empty());
    }

    #[test]
    fn arca_wins_over_velero_per_phase() {
        let hooks = from_annotations(&map(&[
            ("pre.hook.backup.velero.io/command", r#"["velero-pre"]"#),
            ("pre.hook.backup.arca.io/command", r#"["arca-pre"]"#),
            ("post.hook.backup.velero.io/command", r#"["velero-post"]"#),
        ]))
        .unwrap();
        assert_eq!(hooks.pre.len(), 1);
        assert_eq!(hooks.pre[0].command, ["arca-pre"]);
        assert_eq!(hooks.post[0].command, ["velero-post"]);
    }

    #[test]
    fn malformed_annotations_are_named() {
        let err = from_annotations(&map(&[("pre.hook.backup.arca.io/command", "[\"sh\", 3]")])).unwrap_err();
        assert!(err.contains("pre.hook.backup.arca.io/command"), "{err}");
        let err = from_annotations(&map(&[
            ("post.hook.backup.arca.io/command", "[\"x\"]"),
            ("post.hook.backup.arca.io/on-error", "Retry"),
        ]))
        .unwrap_err();
        assert!(err.contains("post.hook.backup.arca.io/on-error") && err.contains("Retry"), "{err}");
        let err = from_annotations(&map(&[("pre.hook.backup.arca.io/container", "db")])).unwrap_err();
        assert!(err.contains("command is missing") || err.contains("add the command"), "{err}");
        let err = from_annotations(&map(&[
            ("pre.hook.backup.arca.io/command", "[\"x\"]"),
            ("pre.hook.backup.arca.io/timeout", "forever"),
        ]))
        .unwrap_err();
        assert!(err.contains("timeout"), "{err}");
        assert!(from_annotations(&map(&[("pre.hook.backup.arca.io/command", "[]")])).is_err());
    }

    #[test]
    fn no_annotations_no_hooks() {
        assert!(from_annotations(&map(&[("app", "x")])).unwrap().is_empty());
    }
}
