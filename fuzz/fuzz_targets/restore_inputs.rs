//! The files a user (or whoever can write them) hands to a restore or a
//! backup: resource modifiers, blueprints, hooks files and annotations,
//! volume policies, and a directory of manifests for `diff`. No panic, no
//! unbounded allocation or time, a clear error. The first byte picks the
//! parser; the rest is the file's text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// One manifest directory for all runs (the file is rewritten each time).
fn manifests() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("arca-fuzz-manifests-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"))
}

fn modifiers(text: &str) {
    let Ok(m) = arca_kube::restore::modifiers::Modifiers::parse(text, "fuzz") else { return };
    let samples = [
        ("deployments.apps", json!({"metadata": {"name": "web-1", "namespace": "shop", "labels": {"tier": "front"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}})),
        ("configmaps", json!({"metadata": {"name": "c", "namespace": "shop"}, "data": {"k": "v"}})),
    ];
    for (group_resource, mut obj) in samples {
        let _ = m.apply(group_resource, Some("shop"), &mut obj);
    }
}

fn hooks(text: &str) {
    if let Ok(f) = arca_apps::hooks::file::HooksFile::parse(text, "fuzz") {
        let _ = f.for_pod(&json!({"metadata": {"namespace": "shop", "name": "p", "labels": {"app": "x"}}}));
    }
    let _ = arca_apps::hooks::annotations::parse_command(text);
    let _ = arca_apps::hooks::spec::parse_duration(text);
}

fn policy(text: &str) {
    if let Ok(p) = arca_volumes::policy::Policy::parse(text, "fuzz") {
        let facts = arca_volumes::policy::VolumeFacts {
            storage_class: "fast",
            driver: "ebs.csi.aws.com",
            capacity: Some(1e9),
            volume_type: "csi",
            ..Default::default()
        };
        let _ = p.action_for(&facts);
    }
    let _ = arca_volumes::policy::parse_quantity(text);
}

fn diff_manifests(text: &str) {
    let file = manifests().join("objects.yaml");
    if std::fs::write(&file, text).is_err() {
        return;
    }
    let dir = arca_kube::sources::Source::Dir(manifests().to_path_buf());
    let live = arca_kube::sources::Source::Objects(vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"}, "data": {"k": "v"}})]);
    let _ = runtime().block_on(arca_kube::sources::compare(&dir, &live));
}

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => modifiers(&text),
        1 => {
            let _ = arca_apps::blueprint::Blueprint::parse(&text, "fuzz");
        }
        2 => hooks(&text),
        3 => policy(&text),
        _ => diff_manifests(&text),
    }
});
