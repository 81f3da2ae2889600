//! The committed `deploy/` equals what the code generates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arca_install::{InstallOptions, helm_chart, kustomize_base};

const REGENERATE: &str =
    "run `arca install --kustomize deploy/kustomize/base --helm-chart deploy/helm/arca` and commit";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let (Ok(rel), Ok(text)) = (path.strip_prefix(dir), std::fs::read_to_string(&path)) {
                files.insert(rel.to_path_buf(), text);
            }
        }
    }
    files
}

fn check(dir: &str, generated: Vec<(PathBuf, String)>) {
    // ARCA_REGENERATE=1 writes the files instead (what `arca install --kustomize/--helm-chart` does).
    if std::env::var_os("ARCA_REGENERATE").is_some() {
        let root = repo_root().join(dir);
        let _ = std::fs::remove_dir_all(&root);
        for (rel, text) in &generated {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(&root)).expect("creating deploy/");
            std::fs::write(&path, text).expect("writing deploy/");
        }
        return;
    }
    let on_disk = committed(&repo_root().join(dir));
    let generated: BTreeMap<PathBuf, String> = generated.into_iter().collect();
    let on_disk_names: Vec<_> = on_disk.keys().collect();
    let generated_names: Vec<_> = generated.keys().collect();
    assert_eq!(on_disk_names, generated_names, "the files of {dir} differ from the generated ones: {REGENERATE}");
    for (name, text) in &generated {
        assert!(on_disk[name] == *text, "{dir}/{} differs from the generated file: {REGENERATE}", name.display());
    }
}

#[test]
fn the_committed_kustomize_base_is_generated() {
    check("deploy/kustomize/base", kustomize_base(&InstallOptions::default()));
}

#[test]
fn the_committed_helm_chart_is_generated() {
    check("deploy/helm/arca", helm_chart(&InstallOptions::default()));
}

#[test]
fn rendering_is_reproducible() {
    let opts = InstallOptions { tenant_mode: true, node_agent: true, ..InstallOptions::default() };
    assert_eq!(helm_chart(&opts), helm_chart(&opts));
    assert_eq!(kustomize_base(&opts), kustomize_base(&opts));
    assert_eq!(
        arca_install::to_yaml(&arca_install::manifests(&opts)),
        arca_install::to_yaml(&arca_install::manifests(&opts))
    );
}
