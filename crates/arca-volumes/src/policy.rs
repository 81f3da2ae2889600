//! Volume policies (`--volume-policies FILE`), in the spirit of Velero's
//! resource policies:
//!
//! ```yaml
//! version: v1
//! volumePolicies:
//!   - conditions:
//!       storageClass: [fast, standard]
//!       csi: {driver: ebs.csi.aws.com}
//!       capacity: "0,100Gi"
//!       volumeTypes: [csi, hostPath, local, nfs]
//!     action: {type: move}        # move | snapshot | fs (or fs-backup) | skip
//! ```
//!
//! The first rule whose conditions all hold wins. Unknown fields and action
//! types are refused, naming the field's path.

use serde_json::{Map, Value};

use crate::record::Method;

/// What a volume looks like to the conditions.
#[derive(Debug, Clone, Default)]
pub struct VolumeFacts<'a> {
    pub storage_class: &'a str,
    pub driver: &'a str,
    /// Bytes of the claim's request (or the PV's capacity).
    pub capacity: Option<f64>,
    /// `csi`, `hostPath`, `local`, `nfs`, … (the PV's source key; `hostPath` for inline volumes).
    pub volume_type: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub storage_classes: Vec<String>,
    pub driver: Option<String>,
    /// Inclusive bounds in bytes; `None` is open.
    pub capacity: (Option<f64>, Option<f64>),
    pub volume_types: Vec<String>,
    pub action: Method,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Parses the YAML (or JSON) text of a policy file; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Policy, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("{what} is not YAML: {e}"))?;
        let top = object(&doc, what)?;
        known_fields(top, what, &["version", "volumePolicies"])?;
        match top.get("version").and_then(Value::as_str) {
            Some("v1") => {}
            Some(v) => return Err(format!("{what}: version {v:?} is not supported; write `version: v1`")),
            None => return Err(format!("{what}: `version: v1` is missing")),
        }
        let rules = match top.get("volumePolicies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_rule(item, &format!("{what}: volumePolicies[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("{what}: volumePolicies must be a list of rules")),
        };
        Ok(Policy { rules })
    }

    /// The first rule matching `facts`: its action and its position (`rule N`, 1-based).
    pub fn action_for(&self, facts: &VolumeFacts) -> Option<(Method, usize)> {
        self.rules.iter().position(|r| r.matches(facts)).map(|i| (self.rules[i].action, i + 1))
    }
}

impl Rule {
    pub fn matches(&self, f: &VolumeFacts) -> bool {
        let class_ok = self.storage_classes.is_empty() || self.storage_classes.iter().any(|c| c == f.storage_class);
        let driver_ok = self.driver.as_deref().is_none_or(|d| d == f.driver);
        let types_ok = self.volume_types.is_empty() || self.volume_types.iter().any(|t| t == f.volume_type);
        let capacity_ok = match self.capacity {
            (None, None) => true,
            (min, max) => f.capacity.is_some_and(|c| min.is_none_or(|m| c >= m) && max.is_none_or(|m| c <= m)),
        };
        class_ok && driver_ok && types_ok && capacity_ok
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{path} must be a mapping"))
}

fn known_fields(m: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), String> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{path}.{k} is not a known field (known: {})", known.join(", "))),
        None => Ok(()),
    }
}

fn strings(v: &Value, path: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| s.as_str().map(String::from).ok_or_else(|| format!("{path}[{i}] must be a string")))
            .collect(),
        _ => Err(format!("{path} must be a list of strings")),
    }
}

fn parse_rule(item: &Value, path: &str) -> Result<Rule, String> {
    let m = object(item, path)?;
    known_fields(m, path, &["conditions", "action"])?;
    let action_path = format!("{path}.action");
    let action = object(m.get("action").ok_or_else(|| format!("{action_path} is missing"))?, &action_path)?;
    known_fields(action, &action_path, &["type", "parameters"])?;
    let action = match action.get("type").and_then(Value::as_str) {
        Some("fs" | "fs-backup") => Method::Fs,
        Some("move") => Method::Move,
        Some("snapshot") => Method::Snapshot,
        Some("skip") => Method::Skip,
        Some(other) => {
            return Err(format!("{action_path}.type {other:?} is not one of move, snapshot, fs (fs-backup), skip"));
        }
        None => return Err(format!("{action_path}.type is missing")),
    };
    let mut rule =
        Rule { storage_classes: Vec::new(), driver: None, capacity: (None, None), volume_types: Vec::new(), action };
    let cpath = format!("{path}.conditions");
    let Some(conditions) = m.get("conditions").filter(|c| !c.is_null()) else {
        return Ok(rule);
    };
    let c = object(conditions, &cpath)?;
    known_fields(c, &cpath, &["storageClass", "csi", "capacity", "volumeTypes"])?;
    if let Some(v) = c.get("storageClass") {
        rule.storage_classes = strings(v, &format!("{cpath}.storageClass"))?;
    }
    if let Some(v) = c.get("csi") {
        let p = format!("{cpath}.csi");
        let csi = object(v, &p)?;
        known_fields(csi, &p, &["driver", "volumeAttributes"])?;
        if csi.contains_key("volumeAttributes") {
            return Err(format!("{p}.volumeAttributes is not supported; match on the driver"));
        }
        rule.driver = Some(
            csi.get("driver").and_then(Value::as_str).ok_or_else(|| format!("{p}.driver must be a string"))?.into(),
        );
    }
    if let Some(v) = c.get("capacity") {
        let p = format!("{cpath}.capacity");
        rule.capacity = capacity_range(v.as_str().ok_or_else(|| format!("{p} must be a string \"MIN,MAX\""))?, &p)?;
    }
    if let Some(v) = c.get("volumeTypes") {
        let p = format!("{cpath}.volumeTypes");
        rule.volume_types = strings(v, &p)?;
        if let Some(t) = rule.volume_types.iter().find(|t| !crate::inventory::PV_SOURCES.contains(&t.as_str())) {
            return Err(format!(
                "{p}: {t:?} is not a volume type (known: {})",
                crate::inventory::PV_SOURCES.join(", ")
            ));
        }
    }
    Ok(rule)
}

/// `"MIN,MAX"`, either side may be empty: `"0,100Gi"`, `"10Gi,"`.
fn capacity_range(text: &str, path: &str) -> Result<(Option<f64>, Option<f64>), String> {
    let (min, max) =
        text.split_once(',').ok_or_else(|| format!("{path} {text:?} must be \"MIN,MAX\", e.g. \"0,100Gi\""))?;
    let side = |s: &str| -> Result<Option<f64>, String> {
        let s = s.trim();
        if s.is_empty() { Ok(None) } else { parse_quantity(s).map(Some).map_err(|e| format!("{path}: {e}")) }
    };
    let (min, max) = (side(min)?, side(max)?);
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        return Err(format!("{path} {text:?}: the minimum is larger than the maximum"));
    }
    Ok((min, max))
}

/// A Kubernetes quantity in bytes: `100Gi`, `1.5Ti`, `500M`, `1e9`, `128974848`.
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let bad = || format!("{text:?} is not a quantity (e.g. 512Mi, 100Gi, 1T)");
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    let (number, factor) =
        SUFFIXES.iter().find_map(|(suffix, f)| s.strip_suffix(suffix).map(|n| (n, *f))).unwrap_or((s, 1.0));
    let starts_ok = number.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+');
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0 && starts_ok).ok_or_else(bad)?;
    // "1e3" parses as a number; "1E" (exa) was stripped above as a suffix.
    Ok(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("100Gi"), Ok(100.0 * 1073741824.0));
        assert_eq!(parse_quantity("1.5Ki"), Ok(1536.0));
        assert_eq!(parse_quantity("500M"), Ok(5e8));
        assert_eq!(parse_quantity("2k"), Ok(2000.0));
        assert_eq!(parse_quantity("1e3"), Ok(1000.0));
        assert_eq!(parse_quantity("1Ti"), Ok(1099511627776.0));
        assert_eq!(parse_quantity("0"), Ok(0.0));
        for bad in ["", "Gi", "-1Gi", "ten", "1GB", "1 Gi x"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }

    const FILE: &str = r#"
version: v1
volumePolicies:
  - conditions: {capacity: "0,1Gi", storageClass: [fast]}
    action: {type: fs-backup}
  - conditions: {csi: {driver: ebs.csi.aws.com}}
    action: {type: snapshot}
  - conditions: {volumeTypes: [hostPath, nfs]}
    action: {type: skip}
  - action: {type: move}
"#;

    #[test]
    fn first_matching_rule_wins() {
        let p = Policy::parse(FILE, "policy.yaml").unwrap();
        let small_fast = VolumeFacts { storage_class: "fast", driver: "d", capacity: Some(1e6), volume_type: "csi" };
        assert_eq!(p.action_for(&small_fast), Some((Method::Fs, 1)));
        let big_fast = VolumeFacts { capacity: Some(5e9), ..small_fast.clone() };
        assert_eq!(p.action_for(&big_fast), Some((Method::Move, 4)));
        let ebs = VolumeFacts { driver: "ebs.csi.aws.com", capacity: None, ..small_fast.clone() };
        assert_eq!(p.action_for(&ebs), Some((Method::Snapshot, 2)));
        let host = VolumeFacts { volume_type: "hostPath", storage_class: "", driver: "", capacity: None };
        assert_eq!(p.action_for(&host), Some((Method::Skip, 3)));
        assert_eq!(Policy::parse("version: v1\n", "p").unwrap().action_for(&host), None);
    }

    #[test]
    fn unknown_fields_and_actions_are_refused_with_their_path() {
        let e = Policy::parse("version: v1\nvolumePolicies:\n- action: {type: copy}\n", "p.yaml").unwrap_err();
        assert!(e.contains("p.yaml: volumePolicies[0].action.type \"copy\" is not one of"), "{e}");
        let e = Policy::parse("version: v1\nvolumePolicies:\n- conditions: {size: 1}\n  action: {type: fs}\n", "p")
            .unwrap_err();
        assert!(e.contains("volumePolicies[0].conditions.size is not a known field"), "{e}");
        let e = Policy::parse("version: v1\nvolumePolicy: []\n", "p").unwrap_err();
        assert!(e.contains("p.volumePolicy is not a known field"), "{e}");
        assert!(Policy::parse("volumePolicies: []\n", "p").unwrap_err().contains("version: v1"));
        let e = Policy::parse(
            "version: v1\nvolumePolicies:\n- conditions: {capacity: \"5Gi,1Gi\"}\n  action: {type: fs}\n",
            "p",
        )
        .unwrap_err();
        assert!(e.contains("minimum is larger"), "{e}");
        let e = Policy::parse(
            "version: v1\nvolumePolicies:\n- conditions: {volumeTypes: [disk]}\n  action: {type: fs}\n",
            "p",
        )
        .unwrap_err();
        assert!(e.contains("\"disk\" is not a volume type"), "{e}");
    }
}
