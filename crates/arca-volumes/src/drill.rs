//! A restore drill's volume half: each volume the drill's restore filled is
//! checked against the backup's repository snapshot by a check mover
//! ([`crate::verify`]); one not restored is reported with the restore's reason.

use std::collections::BTreeMap;

use arca_kube::api::Kube;
use arca_kube::restore::drill::DrillVolumeCheck;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::mover::MoverResult;
use crate::record::VolumeRecord;
use crate::restore::result::{RestoreState, VolumeRestore};
use crate::restore::settings::MoverSettings;
use crate::verify::{self, CheckState, CheckTarget, VolumeCheck};

pub struct DrillVolumes {
    /// The backup's volume records by `NAMESPACE/NAME` of the claim.
    records: BTreeMap<String, VolumeRecord>,
    settings: MoverSettings,
    /// Names the check movers' pods.
    run: String,
}

impl DrillVolumes {
    pub fn new(run: &str, records: Vec<VolumeRecord>, settings: MoverSettings) -> Self {
        DrillVolumes {
            records: records.into_iter().filter(|r| !r.inline).map(|r| (r.claim.clone(), r)).collect(),
            settings,
            run: run.to_string(),
        }
    }

    async fn one(&self, kube: &Kube, restored: &Value) -> VolumeCheck {
        let parsed: Result<VolumeRestore, _> = serde_json::from_value(restored.clone());
        let Ok(restored) = parsed else {
            let claim = restored.get("claim").and_then(Value::as_str).unwrap_or("a volume");
            return failed(claim, "", format!("its restore record is unreadable: {restored}"));
        };
        match restored.state {
            RestoreState::Completed => {}
            RestoreState::Failed if restored.check.is_none() => {
                return failed(&restored.claim, &restored.source, format!("not restored: {}", restored.reason));
            }
            RestoreState::Failed => {}
            RestoreState::Skipped => {
                let why = format!("not restored: {}", restored.reason);
                return VolumeCheck {
                    reason: why,
                    ..VolumeCheck::new(&restored.claim, &restored.source, CheckState::Skipped)
                };
            }
        }
        // Checked by the restore mover itself, before any pod could change it.
        if let Some(check) = restored.check.clone() {
            let snapshot = restored.from.strip_prefix("repository snapshot ").unwrap_or_default().to_string();
            let base = VolumeCheck {
                snapshot,
                node: restored.node.clone(),
                ..VolumeCheck::new(&restored.claim, &restored.source, CheckState::Skipped)
            };
            let result =
                MoverResult { duration_secs: restored.duration_secs, check: Some(check), ..MoverResult::default() };
            return verify::from_result(base, &result);
        }
        let Some(record) = self.records.get(&restored.source) else {
            let why = "a pod's inline volume or a claim without a record in the backup: not checked".to_string();
            return VolumeCheck {
                reason: why,
                ..VolumeCheck::new(&restored.claim, &restored.source, CheckState::Skipped)
            };
        };
        let Some((namespace, claim)) = restored.claim.split_once('/') else {
            return failed(&restored.claim, &restored.source, "the restored claim is not NAMESPACE/NAME".into());
        };
        let target = CheckTarget { record, namespace, claim, run: &self.run, node: restored.node.clone() };
        verify::check(kube, &self.settings, target).await
    }
}

fn failed(claim: &str, source: &str, reason: String) -> VolumeCheck {
    VolumeCheck { reason, ..VolumeCheck::new(claim, source, CheckState::Failed) }
}

impl DrillVolumeCheck for DrillVolumes {
    fn check<'a>(&'a self, kube: &'a Kube, restored: &'a [Value]) -> BoxFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let checks: Vec<VolumeCheck> = futures::stream::iter(0..restored.len())
                .map(move |i| self.one(kube, &restored[i]))
                .buffered(self.settings.concurrency.max(1))
                .collect()
                .await;
            checks
                .into_iter()
                .map(|c| {
                    serde_json::to_value(&c).unwrap_or_else(
                        |e| serde_json::json!({"claim": c.claim, "state": "Failed", "reason": e.to_string()}),
                    )
                })
                .collect()
        })
    }
}
