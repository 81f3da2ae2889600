//! `{{name}}` placeholders in a blueprint's commands and stream names.
//! Values replace whole placeholders only; a value is never parsed again,
//! so a database called `{{x}}` stays what it is.

use std::collections::BTreeMap;

/// The placeholders of `text`, or why it is malformed.
fn placeholders(text: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let Some(close) = text[start + 2..].find("}}") else {
            return Err(format!("{text:?} opens `{{{{` without closing it"));
        };
        let end = start + 2 + close + 2;
        out.push((start, end, text[start + 2..end - 2].trim()));
        rest = end;
    }
    Ok(out)
}

/// Checks that `text` uses only `known` placeholders.
pub fn check(text: &str, known: &[&str]) -> Result<(), String> {
    for (_, _, name) in placeholders(text)? {
        if !known.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}} in {text:?}; here it can be one of: {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// `text` with its placeholders replaced from `values`.
pub fn expand(text: &str, values: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, name) in placeholders(text)? {
        out.push_str(&text[at..start]);
        let value = values.get(name).ok_or_else(|| format!("no value for {{{{{name}}}}} in {text:?}"))?;
        out.push_str(value);
        at = end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// Every argument of `argv` expanded.
pub fn expand_all(argv: &[String], values: &BTreeMap<&str, String>) -> Result<Vec<String>, String> {
    argv.iter().map(|a| expand(a, values)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_once() {
        let values = BTreeMap::from([("item", "{{item}}".to_string()), ("cursor", "17".to_string())]);
        assert_eq!(expand("db-{{item}}-{{ cursor }}", &values).unwrap(), "db-{{item}}-17");
        assert_eq!(expand("plain", &values).unwrap(), "plain");
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_errors() {
        assert!(check("{{item}}", &["item"]).is_ok());
        assert!(check("{{itme}}", &["item"]).unwrap_err().contains("itme"));
        assert!(check("{{item", &["item"]).unwrap_err().contains("without closing"));
        assert!(expand("{{nope}}", &BTreeMap::new()).is_err());
    }
}
