//! Label selectors in kubectl's syntax (`a=b,c!=d,e in (f,g),!h,i`),
//! evaluated on the client so `--or-selector` can combine several.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    reqs: Vec<Req>,
    text: String,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector> {
        let bad = |m: &str| Error::invalid(format!("label selector {text:?}"), m.to_string());
        let mut reqs = Vec::new();
        for part in split_top(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(key(k, &bad)?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(key(k, &bad)?, v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Req::Eq(key(k, &bad)?, v.trim().to_string())
            } else if let Some((k, set)) = split_set(part, " notin ") {
                Req::NotIn(key(k, &bad)?, set_values(set, &bad)?)
            } else if let Some((k, set)) = split_set(part, " in ") {
                Req::In(key(k, &bad)?, set_values(set, &bad)?)
            } else {
                Req::Exists(key(part, &bad)?)
            };
            reqs.push(req);
        }
        Ok(Selector { reqs, text: text.to_string() })
    }

    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        let get = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits at commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn split_set<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let (k, rest) = part.split_once(op)?;
    Some((k, rest.trim()))
}

fn set_values(set: &str, bad: &dyn Fn(&str) -> Error) -> Result<Vec<String>> {
    let inner =
        set.strip_prefix('(').and_then(|s| s.strip_suffix(')')).ok_or_else(|| bad("a set must be in parentheses"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

fn key(k: &str, bad: &dyn Fn(&str) -> Error) -> Result<String> {
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(bad("empty or malformed label key"));
    }
    Ok(k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_every_operator() -> Result<()> {
        let labels = [("app", "web"), ("tier", "front")];
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing notin (x)", true),
            ("", true),
        ] {
            assert_eq!(Selector::parse(sel)?.matches(&labels), want, "{sel}");
        }
        Ok(())
    }

    #[test]
    fn rejects_malformed() {
        assert!(Selector::parse("a in b").is_err());
        assert!(Selector::parse("=x").is_err());
    }
}
