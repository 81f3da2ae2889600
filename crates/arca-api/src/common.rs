//! Status pieces shared by every resource.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A condition in the Kubernetes convention (`type`, `status`, `reason`,
/// `message`, `lastTransitionTime`), e.g. a location's `Available`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn new(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            type_: type_.to_string(),
            status: if ok { "True" } else { "False" }.to_string(),
            reason: reason.to_string(),
            message: message.into(),
            last_transition_time: Some(Utc::now()),
            observed_generation: None,
        }
    }
}

/// Set `cond` in `list`, keeping the old transition time when the status
/// did not change (as `meta.SetStatusCondition` does).
pub fn set_condition(list: &mut Vec<Condition>, mut cond: Condition) {
    if let Some(old) = list.iter_mut().find(|c| c.type_ == cond.type_) {
        if old.status == cond.status {
            cond.last_transition_time = old.last_transition_time;
        }
        *old = cond;
    } else {
        list.push(cond);
    }
}

/// An error or warning of a backup or restore, with a machine-readable reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// CamelCase reason, e.g. `Forbidden`, `VolumeFailed`, `WebhookDenied`.
    pub reason: String,
    pub message: String,
    /// What it concerns (`namespace/kind/name`, a claim, a hook), if one thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// Issues kept in a status: enough to act on, never unbounded.
pub const MAX_ISSUES: usize = 50;

/// A reference to a key of a Secret in the object's namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_stays() {
        let mut list = vec![];
        let mut first = Condition::new("Available", true, "Reachable", "");
        first.last_transition_time = DateTime::from_timestamp(1, 0);
        set_condition(&mut list, first);
        set_condition(&mut list, Condition::new("Available", true, "Reachable", "again"));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, DateTime::from_timestamp(1, 0));
        set_condition(&mut list, Condition::new("Available", false, "Unreachable", "down"));
        assert_ne!(list[0].last_transition_time, DateTime::from_timestamp(1, 0));
        assert_eq!(list[0].status, "False");
    }
}
