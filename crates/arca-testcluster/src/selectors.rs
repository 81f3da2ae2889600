//! Label selectors (equality and set-based) and field selectors.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 317 && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_set(rest: &str, whole: &str) -> ApiResult<Vec<String>> {
    let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(|| bad_selector(whole))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.iter().any(|v| !valid_value(v)) {
        return Err(bad_selector(whole));
    }
    Ok(values)
}

fn bad_selector(s: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: found '{s}', expected: in, notin, =, ==, !=, gt, lt"))
}

fn parse_requirement(raw: &str) -> ApiResult<(String, Op)> {
    let r = raw.trim();
    if let Some(key) = r.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| (key.to_string(), Op::NotExists)).ok_or_else(|| bad_selector(r));
    }
    for (sym, len) in [("==", 2usize), ("!=", 2), ("=", 1), (">", 1), ("<", 1)] {
        if let Some(pos) = r.find(sym) {
            let key = r[..pos].trim();
            let value = r[pos + len..].trim();
            if !valid_key(key) || !valid_value(value) {
                return Err(bad_selector(r));
            }
            let op = match sym {
                "!=" => Op::NotEq(value.into()),
                ">" => Op::Gt(value.parse().map_err(|_| bad_selector(r))?),
                "<" => Op::Lt(value.parse().map_err(|_| bad_selector(r))?),
                _ => Op::Eq(value.into()),
            };
            return Ok((key.to_string(), op));
        }
    }
    let mut parts = r.splitn(2, char::is_whitespace);
    let key = parts.next().unwrap_or_default().trim();
    let rest = parts.next().unwrap_or_default().trim();
    if !valid_key(key) {
        return Err(bad_selector(r));
    }
    if rest.is_empty() {
        return Ok((key.to_string(), Op::Exists));
    }
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok((key.to_string(), Op::NotIn(parse_set(set, r)?)));
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok((key.to_string(), Op::In(parse_set(set, r)?)));
    }
    Err(bad_selector(r))
}

impl LabelSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top_level(s) {
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|(key, op)| {
            let value = labels.get(key);
            match op {
                Op::Eq(v) => value == Some(v),
                Op::NotEq(v) => value != Some(v),
                Op::In(set) => value.is_some_and(|x| set.contains(x)),
                Op::NotIn(set) => value.is_none_or(|x| !set.contains(x)),
                Op::Exists => value.is_some(),
                Op::NotExists => value.is_none(),
                Op::Gt(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
                Op::Lt(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
            }
        })
    }

    /// Matches the `metadata.labels` of a stored object.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(obj))
    }
}

/// `metadata.labels` as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

/// Fields every type supports in field selectors.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Extra selectable fields per kind (a subset of the upstream ones).
const KIND_FIELDS: &[(&str, &[&str])] = &[
    ("Pod", &["spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "status.phase", "status.podIP"]),
    ("Secret", &["type"]),
    ("Namespace", &["status.phase"]),
    ("Node", &["spec.unschedulable"]),
    ("Job", &["status.successful"]),
    (
        "Event",
        &[
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        ],
    ),
];

/// A parsed field selector.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses `selector` for objects of `kind`; unsupported fields answer 400 as upstream.
    pub fn parse(selector: &str, kind: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            let supported = COMMON_FIELDS.contains(&field)
                || KIND_FIELDS.iter().any(|(k, fields)| *k == kind && fields.contains(&field));
            if !supported {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            reqs.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match obj.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn equality_and_set_based() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let ok = |s: &str| LabelSelector::parse(s).expect(s).matches(&l);
        assert!(ok("app=web"));
        assert!(ok("app==web,tier!=back"));
        assert!(ok("app in (web, api),tier notin (back)"));
        assert!(ok("app,!missing"));
        assert!(ok("n>3,n<6"));
        assert!(!ok("app=api"));
        assert!(!ok("tier in (back)"));
        assert!(!ok("!app"));
        assert!(!ok("missing"));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj = serde_json::json!({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Running"}});
        let ok = |s: &str, kind: &str| FieldSelector::parse(s, kind).expect(s).matches(&obj);
        assert!(ok("metadata.name=a", "ConfigMap"));
        assert!(ok("metadata.namespace!=x,metadata.name==a", "ConfigMap"));
        assert!(ok("status.phase=Running", "Pod"));
        assert!(FieldSelector::parse("status.phase=Running", "ConfigMap").is_err());
    }
}
