//! Which method protects a volume, and where that choice came from
//! (highest first): the claim's annotation, a mounting pod's annotation
//! (Arca's, then Velero's `backup-volumes` / `backup-volumes-excludes`), the
//! volume policy file, then `--volumes`. A method that cannot work for the
//! volume fails it with what to do; nothing is left out silently.

use std::collections::BTreeMap;

use crate::METHOD_ANNOTATION;
use crate::record::Method;

/// Velero's pod annotation: these volumes are backed up file by file.
pub const VELERO_INCLUDE: &str = "backup.velero.io/backup-volumes";
/// Velero's pod annotation: these volumes are left out.
pub const VELERO_EXCLUDE: &str = "backup.velero.io/backup-volumes-excludes";

/// `--volumes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Auto,
    Move,
    Snapshot,
    Fs,
    None,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "move" => Ok(Mode::Move),
            "snapshot" => Ok(Mode::Snapshot),
            "fs" => Ok(Mode::Fs),
            "none" => Ok(Mode::None),
            other => Err(format!("--volumes {other:?} is not one of auto, move, snapshot, fs, none")),
        }
    }
}

/// A pod mounting the volume, as the choice sees it.
#[derive(Debug, Clone, Default)]
pub struct PodView {
    /// `NAMESPACE/NAME`.
    pub pod: String,
    /// The pod's name for the volume (`spec.volumes[].name`).
    pub volume: String,
    pub annotations: BTreeMap<String, String>,
}

/// What the choice needs to know about one volume.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// `NAMESPACE/NAME` of the claim (or `NAMESPACE/POD/VOLUME`).
    pub key: &'a str,
    pub claim_annotations: Option<&'a BTreeMap<String, String>>,
    pub pods: &'a [PodView],
    /// The first policy rule matching: its action and number.
    pub policy: Option<(Method, usize)>,
    pub driver: &'a str,
    /// `csi`, `hostPath`, `local`, …
    pub volume_type: &'a str,
    pub snapshot_class: Option<&'a str>,
    /// Whether a file-level read is possible (a running pod mounts it, or the node is known).
    pub readable_in_place: bool,
    /// A pod's inline `hostPath` volume.
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Run,
    Skipped(String),
    NotProtected(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub method: Method,
    pub chosen_by: String,
    pub plan: Plan,
}

/// Where a request came from: annotations and policies are the user's
/// word for this volume, `--volumes` a default for all.
#[derive(PartialEq)]
enum Source {
    Explicit,
    Flag,
}

pub fn choose(f: &Facts, mode: Mode) -> Decision {
    let requested = match requested(f) {
        Ok(r) => r,
        Err((chosen_by, reason)) => return Decision { method: Method::Skip, chosen_by, plan: Plan::Failed(reason) },
    };
    let (method, chosen_by, source) = match requested {
        Some((m, by)) => (m, by, Source::Explicit),
        None => match mode {
            Mode::Auto => return auto(f),
            Mode::Move => (Method::Move, "--volumes move".to_string(), Source::Flag),
            Mode::Snapshot => (Method::Snapshot, "--volumes snapshot".to_string(), Source::Flag),
            Mode::Fs => (Method::Fs, "--volumes fs".to_string(), Source::Flag),
            Mode::None => (Method::Skip, "--volumes none".to_string(), Source::Flag),
        },
    };
    if f.inline && source == Source::Flag && method != Method::Fs && method != Method::Skip {
        return inline_default(f, chosen_by);
    }
    let plan = feasible(f, method, &chosen_by);
    Decision { method, chosen_by, plan }
}

/// An annotation or policy asking for a method; `Err` for an annotation that names none.
fn requested(f: &Facts) -> Result<Option<(Method, String)>, (String, String)> {
    if let Some(v) = f.claim_annotations.and_then(|a| a.get(METHOD_ANNOTATION)) {
        let by = format!("claim annotation {METHOD_ANNOTATION}={v}");
        return parse_annotation(v, &by, &format!("claim {}", f.key)).map(|m| Some((m, by)));
    }
    for p in f.pods {
        if let Some(v) = p.annotations.get(METHOD_ANNOTATION) {
            let by = format!("pod {} annotation {METHOD_ANNOTATION}={v}", p.pod);
            return parse_annotation(v, &by, &format!("pod {}", p.pod)).map(|m| Some((m, by)));
        }
    }
    for p in f.pods {
        if listed(p.annotations.get(VELERO_INCLUDE), &p.volume) {
            return Ok(Some((Method::Fs, format!("pod {} annotation {VELERO_INCLUDE}", p.pod))));
        }
        if listed(p.annotations.get(VELERO_EXCLUDE), &p.volume) {
            return Ok(Some((Method::Skip, format!("pod {} annotation {VELERO_EXCLUDE}", p.pod))));
        }
    }
    Ok(f.policy.map(|(m, n)| (m, format!("volume policy rule {n}"))))
}

fn parse_annotation(value: &str, by: &str, on: &str) -> Result<Method, (String, String)> {
    value.trim().parse::<Method>().map_err(|e| {
        (by.to_string(), format!("annotation {METHOD_ANNOTATION} on {on}: {e}; fix or remove the annotation"))
    })
}

fn listed(annotation: Option<&String>, volume: &str) -> bool {
    annotation.is_some_and(|a| a.split(',').any(|v| v.trim() == volume))
}

fn auto(f: &Facts) -> Decision {
    if f.inline {
        return inline_default(f, "--volumes auto".into());
    }
    if let Some(class) = f.snapshot_class {
        let by = format!("auto: VolumeSnapshotClass {class} serves {}", f.driver);
        return Decision { method: Method::Move, chosen_by: by, plan: Plan::Run };
    }
    if f.readable_in_place {
        let by = format!("auto: no VolumeSnapshotClass for {}, a running pod mounts it", driver_name(f));
        return Decision { method: Method::Fs, chosen_by: by, plan: Plan::Run };
    }
    let reason = format!(
        "no VolumeSnapshotClass serves {} and no running pod mounts it; add a snapshot class for the driver, \
         run a pod that mounts the claim (for fs), or annotate the claim {METHOD_ANNOTATION}: skip",
        driver_name(f)
    );
    Decision { method: Method::Skip, chosen_by: "--volumes auto".into(), plan: Plan::NotProtected(reason) }
}

/// A node's hostPath is not application data unless someone says so.
fn inline_default(f: &Facts, chosen_by: String) -> Decision {
    let reason = format!(
        "{} is a pod's hostPath volume (node data, not backed up by default); annotate the pod \
         {METHOD_ANNOTATION}: fs, use --volumes fs, or a volume policy to back it up",
        f.key
    );
    Decision { method: Method::Skip, chosen_by, plan: Plan::Skipped(reason) }
}

fn driver_name(f: &Facts) -> String {
    if f.driver.is_empty() { format!("its {} volume", f.volume_type) } else { format!("driver {}", f.driver) }
}

/// Whether `method` can work for the volume; a reason to act on when not.
fn feasible(f: &Facts, method: Method, chosen_by: &str) -> Plan {
    match method {
        Method::Skip => Plan::Skipped(format!("left out by {chosen_by}")),
        Method::Move | Method::Snapshot if f.inline || f.driver.is_empty() => Plan::Failed(format!(
            "{method} needs a CSI volume, and this is a {} volume; use fs (a running pod mounts it) or skip",
            if f.inline { "pod's hostPath" } else { f.volume_type }
        )),
        Method::Move | Method::Snapshot if f.snapshot_class.is_none() => Plan::Failed(format!(
            "{method} needs a VolumeSnapshotClass for driver {}; label one arca.io/default-class: \"true\" \
             (or make one the default class), or use fs",
            f.driver
        )),
        Method::Fs if !f.readable_in_place => Plan::Failed(
            "fs reads a volume through a running pod that mounts it, and none runs; start one, or use move".into(),
        ),
        _ => Plan::Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn csi<'a>(pods: &'a [PodView], class: Option<&'a str>) -> Facts<'a> {
        Facts {
            key: "shop/data",
            pods,
            driver: "d.csi",
            volume_type: "csi",
            snapshot_class: class,
            readable_in_place: !pods.is_empty(),
            ..Default::default()
        }
    }

    fn pod(volume: &str, pairs: &[(&str, &str)]) -> PodView {
        PodView { pod: "shop/db-0".into(), volume: volume.into(), annotations: annotations(pairs) }
    }

    #[test]
    fn auto_prefers_move_then_fs_then_reports_not_protected() {
        let pods = [pod("data", &[])];
        let d = choose(&csi(&pods, Some("snaps")), Mode::Auto);
        assert_eq!((d.method, d.plan), (Method::Move, Plan::Run));
        assert!(d.chosen_by.contains("VolumeSnapshotClass snaps"), "{}", d.chosen_by);
        let d = choose(&csi(&pods, None), Mode::Auto);
        assert_eq!((d.method, d.plan), (Method::Fs, Plan::Run));
        let d = choose(&csi(&[], None), Mode::Auto);
        assert!(matches!(&d.plan, Plan::NotProtected(r) if r.contains("driver d.csi")), "{d:?}");
    }

    #[test]
    fn precedence_claim_then_pod_then_velero_then_policy_then_flag() {
        let claim = annotations(&[(METHOD_ANNOTATION, "snapshot")]);
        let pods = [pod("data", &[(METHOD_ANNOTATION, "fs"), (VELERO_EXCLUDE, "data")])];
        let mut f = csi(&pods, Some("snaps"));
        f.policy = Some((Method::Skip, 2));
        f.claim_annotations = Some(&claim);
        let d = choose(&f, Mode::Move);
        assert_eq!((d.method, d.plan.clone()), (Method::Snapshot, Plan::Run));
        assert!(d.chosen_by.starts_with("claim annotation"));
        f.claim_annotations = None;
        assert_eq!(choose(&f, Mode::Move).method, Method::Fs);
        let pods = [pod("data", &[(VELERO_EXCLUDE, "logs, data")])];
        f.pods = &pods;
        let d = choose(&f, Mode::Move);
        assert_eq!(d.method, Method::Skip);
        assert!(matches!(d.plan, Plan::Skipped(_)));
        assert!(d.chosen_by.contains(VELERO_EXCLUDE));
        let pods = [pod("data", &[(VELERO_INCLUDE, "data")])];
        f.pods = &pods;
        assert_eq!(choose(&f, Mode::Move).method, Method::Fs);
        let pods = [pod("data", &[(VELERO_INCLUDE, "other")])];
        f.pods = &pods;
        let d = choose(&f, Mode::Move);
        assert_eq!((d.method, d.chosen_by.as_str()), (Method::Skip, "volume policy rule 2"));
        f.policy = None;
        assert_eq!(choose(&f, Mode::Snapshot).chosen_by, "--volumes snapshot");
        assert_eq!(choose(&f, Mode::None).plan, Plan::Skipped("left out by --volumes none".into()));
    }

    #[test]
    fn impossible_methods_fail_with_what_to_do() {
        let d = choose(&csi(&[], None), Mode::Move);
        assert!(matches!(&d.plan, Plan::Failed(r) if r.contains("VolumeSnapshotClass for driver d.csi")), "{d:?}");
        let d = choose(&csi(&[], Some("s")), Mode::Fs);
        assert!(matches!(&d.plan, Plan::Failed(r) if r.contains("running pod")), "{d:?}");
        let bad = annotations(&[(METHOD_ANNOTATION, "copy")]);
        let mut f = csi(&[], Some("s"));
        f.claim_annotations = Some(&bad);
        let d = choose(&f, Mode::Auto);
        assert!(matches!(&d.plan, Plan::Failed(r) if r.contains("claim shop/data") && r.contains("copy")), "{d:?}");
        let mut f = csi(&[], None);
        f.driver = "";
        f.volume_type = "nfs";
        f.policy = Some((Method::Snapshot, 1));
        let d = choose(&f, Mode::Auto);
        assert!(matches!(&d.plan, Plan::Failed(r) if r.contains("nfs volume")), "{d:?}");
    }

    #[test]
    fn inline_host_paths_only_when_asked() {
        let pods = [pod("logs", &[])];
        let mut f =
            Facts { key: "shop/web/logs", pods: &pods, volume_type: "hostPath", inline: true, ..Default::default() };
        f.readable_in_place = true;
        for mode in [Mode::Auto, Mode::Move, Mode::Snapshot] {
            assert!(matches!(choose(&f, mode).plan, Plan::Skipped(r) if r.contains("node data")));
        }
        assert_eq!(choose(&f, Mode::Fs).plan, Plan::Run);
        let pods = [pod("logs", &[(METHOD_ANNOTATION, "fs")])];
        f.pods = &pods;
        assert_eq!(
            choose(&f, Mode::Auto),
            Decision {
                method: Method::Fs,
                chosen_by: format!("pod shop/db-0 annotation {METHOD_ANNOTATION}=fs"),
                plan: Plan::Run
            }
        );
        f.pods = &[];
        f.policy = Some((Method::Move, 1));
        assert!(matches!(choose(&f, Mode::Auto).plan, Plan::Failed(r) if r.contains("hostPath")));
    }
}
