//! Namespace and storage-class mappings (`old:new`), applied to every place
//! an object names a namespace or a storage class.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mappings {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_classes: BTreeMap<String, String>,
}

/// Parses `a:b` pairs (also comma-separated within one argument).
pub fn parse_pairs(args: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in args.iter().flat_map(|a| a.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = pair
            .split_once(':')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| Error::invalid(what, format!("{pair:?} is not OLD:NEW")))?;
        out.insert(from.to_string(), to.to_string());
    }
    Ok(out)
}

impl Mappings {
    pub fn namespace<'a>(&'a self, ns: &'a str) -> &'a str {
        self.namespaces.get(ns).map(String::as_str).unwrap_or(ns)
    }

    pub fn storage_class<'a>(&'a self, sc: &'a str) -> &'a str {
        self.storage_classes.get(sc).map(String::as_str).unwrap_or(sc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() -> Result<()> {
        let m = parse_pairs(&["a:b,c:d".into(), "e:f".into()], "--namespace-mappings")?;
        assert_eq!(m.len(), 3);
        assert_eq!(m["c"], "d");
        assert!(parse_pairs(&["a".into()], "x").is_err());
        assert!(parse_pairs(&[":b".into()], "x").is_err());
        Ok(())
    }
}
