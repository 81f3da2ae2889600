//! The Helm chart's templates render (with a tiny stand-in for Helm's
//! `{{ .Values.x }}` and `{{- if }}`) to exactly the objects `manifests`
//! gives for the same values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arca_install::{Group, InstallOptions, grouped, helm_chart};
use serde_json::Value;

/// Renders `text` with `values`: `{{ .Values.x }}` substitution and
/// `{{- if [not] .Values.x }}` / `{{- else }}` / `{{- end }}` lines.
fn render(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    // Each open `if`: (this branch is taken, an enclosing branch is taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|(taken, _)| *taken);
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(cond) = trimmed.strip_prefix("{{- if ").and_then(|r| r.strip_suffix(" }}")) {
            let (negate, name) = match cond.strip_prefix("not ") {
                Some(rest) => (true, rest),
                None => (false, cond),
            };
            let key = name.strip_prefix(".Values.").unwrap_or_else(|| panic!("unknown condition {cond}"));
            let value = values.get(key).unwrap_or_else(|| panic!("no value {key}")) == "true";
            let outer = active(&stack);
            stack.push((value != negate, outer));
        } else if trimmed == "{{- else }}" {
            let top = stack.last_mut().expect("else without if");
            top.0 = !top.0;
        } else if trimmed == "{{- end }}" {
            stack.pop().expect("end without if");
        } else if active(&stack) {
            let mut line = line.to_string();
            for (k, v) in values {
                line = line.replace(&format!("{{{{ .Values.{k} }}}}"), v);
            }
            assert!(!line.contains("{{"), "an unknown template expression in: {line}");
            out.push_str(&line);
            out.push('\n');
        }
    }
    assert!(stack.is_empty(), "an if without end");
    out
}

fn values_of(chart: &[(PathBuf, String)]) -> BTreeMap<String, String> {
    let text = &chart.iter().find(|(p, _)| p == &PathBuf::from("values.yaml")).expect("values.yaml").1;
    let values: BTreeMap<String, serde_json::Value> = serde_saphyr::from_str(text).expect("values.yaml parses");
    values.into_iter().map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect()
}

fn parse_stream(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn rendered_objects(chart: &[(PathBuf, String)], values: &BTreeMap<String, String>) -> Vec<Value> {
    // Helm applies templates in file order per kind; the order of files
    // here follows the apply order of the groups.
    chart
        .iter()
        .filter(|(p, _)| p.starts_with("templates"))
        .flat_map(|(_, text)| parse_stream(&render(text, values)))
        .collect()
}

fn check(opts: InstallOptions) {
    let chart = helm_chart(&InstallOptions::default());
    let mut values = values_of(&chart);
    values.insert("namespace".into(), opts.namespace.clone());
    values.insert("image".into(), opts.image.clone());
    values.insert("replicas".into(), opts.replicas.to_string());
    values.insert("tenantMode".into(), opts.tenant_mode.to_string());
    values.insert("nodeAgent".into(), opts.node_agent.to_string());
    values.insert("metricsPort".into(), opts.metrics_port.to_string());
    let want: Vec<Value> = grouped(&opts).into_iter().filter(|m| m.group != Group::Crds).map(|m| m.object).collect();
    let got = rendered_objects(&chart, &values);
    assert_eq!(got.len(), want.len(), "objects rendered for {opts:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "rendered for {opts:?}");
    }
}

#[test]
fn default_values_render_the_default_install() {
    check(InstallOptions::default());
}

#[test]
fn every_value_reaches_the_objects() {
    let base = InstallOptions::default();
    let cases = [
        InstallOptions { tenant_mode: true, ..base.clone() },
        InstallOptions { node_agent: true, ..base.clone() },
        InstallOptions { tenant_mode: true, node_agent: true, ..base.clone() },
        InstallOptions {
            namespace: "backup".into(),
            image: "registry.example/arca:9".into(),
            replicas: 2,
            metrics_port: 9100,
            ..base.clone()
        },
    ];
    for opts in cases {
        check(opts);
    }
}

#[test]
fn no_namespace_object_when_not_asked() {
    let chart = helm_chart(&InstallOptions::default());
    let mut values = values_of(&chart);
    values.insert("createNamespace".into(), "false".into());
    let objects = rendered_objects(&chart, &values);
    assert!(objects.iter().all(|o| o["kind"] != "Namespace"));
    assert!(objects.iter().any(|o| o["kind"] == "Deployment"));
}

#[test]
fn crds_are_plain_files_under_crds() {
    let chart = helm_chart(&InstallOptions::default());
    let (_, text) = chart.iter().find(|(p, _)| p == &PathBuf::from("crds/crds.yaml")).expect("crds/crds.yaml");
    assert!(!text.contains("{{"), "CRDs are not templated (Helm installs them as they are)");
    let crds = parse_stream(text);
    assert_eq!(crds.len(), arca_api::crds().len());
    assert!(crds.iter().all(|c| c["kind"] == "CustomResourceDefinition"));
}
