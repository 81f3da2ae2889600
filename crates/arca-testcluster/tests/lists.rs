//! Lists: selectors, paging over 5,000 objects, continue token expiry.

mod common;

use std::collections::HashSet;

use common::{cluster, namespace, obj, status_of};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn paginate_five_thousand_objects() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "many").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "many");
    let total = 5000usize;
    let names: Vec<String> = (0..total).map(|i| format!("cm-{i:05}")).collect();
    futures::future::try_join_all(names.chunks(500).map(|chunk| {
        let api = api.clone();
        async move {
            for n in chunk {
                let cm: ConfigMap = obj(json!({"metadata": {"name": n, "labels": {"parity": if n.ends_with(['0', '2', '4', '6', '8']) { "even" } else { "odd" }}}}));
                api.create(&PostParams::default(), &cm).await?;
            }
            anyhow::Ok(())
        }
    }))
    .await?;

    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut list_rv = None;
    loop {
        let mut lp = ListParams::default().limit(450).labels("parity");
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await?;
        pages += 1;
        if pages == 1 {
            list_rv = page.metadata.resource_version.clone();
            // Writes during paging do not show up: pages read the first page's snapshot.
            let extra: ConfigMap = obj(json!({"metadata": {"name": "zz-late", "labels": {"parity": "odd"}}}));
            api.create(&PostParams::default(), &extra).await?;
        } else {
            assert_eq!(page.metadata.resource_version, list_rv);
        }
        for cm in &page.items {
            let name = cm.metadata.name.clone().unwrap_or_default();
            assert!(seen.insert(name.clone()), "duplicate {name}");
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, total.div_ceil(450));
    assert_eq!(seen.len(), total, "none missing");
    assert!(!seen.contains("zz-late"));

    let first = api.list(&ListParams::default().limit(10)).await?;
    assert_eq!(first.items.len(), 10);
    // 5000 + late one + kube-root-ca.crt, minus this page.
    assert_eq!(first.metadata.remaining_item_count, Some((total + 2 - 10) as i64));
    let even = api.list(&ListParams::default().labels("parity=even")).await?;
    assert_eq!(even.items.len(), total / 2);
    Ok(())
}

#[tokio::test]
async fn continue_tokens_expire_when_configured() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        let cm: ConfigMap = obj(json!({"metadata": {"name": format!("c{i}")}}));
        api.create(&PostParams::default(), &cm).await?;
    }
    let page = api.list(&ListParams::default().limit(2)).await?;
    let token = page.metadata.continue_.expect("continue");
    c.faults().expire_continue_tokens(1);
    let st = status_of(api.list(&ListParams::default().limit(2).continue_token(&token)).await);
    assert_eq!((st.code, st.reason.as_str()), (410, "Expired"));
    // The next use works again.
    let next = api.list(&ListParams::default().limit(2).continue_token(&token)).await?;
    assert_eq!(next.items.len(), 2);
    Ok(())
}

#[tokio::test]
async fn label_and_field_selectors() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "sel").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
    for (name, env, tier) in [("a", "prod", "web"), ("b", "prod", "db"), ("c", "dev", "web"), ("d", "test", "")] {
        let mut labels = json!({"env": env});
        if !tier.is_empty() {
            labels["tier"] = json!(tier);
        }
        let cm: ConfigMap = obj(json!({"metadata": {"name": name, "labels": labels}}));
        api.create(&PostParams::default(), &cm).await?;
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items.into_iter().filter_map(|c| c.metadata.name).collect()
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(api.list(&q("env=prod")).await?), ["a", "b"]);
    assert_eq!(names(api.list(&q("env==prod,tier!=db")).await?), ["a"]);
    assert_eq!(names(api.list(&q("env in (dev,test)")).await?), ["c", "d"]);
    assert_eq!(names(api.list(&q("env notin (prod),tier")).await?), ["c"]);
    assert_eq!(names(api.list(&q("env,!tier")).await?), ["d"]);
    let f = ListParams::default().fields("metadata.name=b");
    assert_eq!(names(api.list(&f).await?), ["b"]);
    let all: Api<ConfigMap> = Api::all(client.clone());
    let f = ListParams::default().fields("metadata.namespace=sel,metadata.name!=a").labels("env");
    assert_eq!(names(all.list(&f).await?), ["b", "c", "d"]);
    let st = status_of(api.list(&ListParams::default().fields("spec.nope=1")).await);
    assert_eq!(st.code, 400);
    Ok(())
}
