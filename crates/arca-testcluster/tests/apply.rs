//! Server-side apply: create, field ownership, conflicts, force, removal.

mod common;

use common::{cluster, status_of};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn server_side_apply_ownership() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let alice = PatchParams::apply("alice");
    let cfg =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let created = api.patch("ssa", &alice, &Patch::Apply(&cfg)).await?;
    assert_eq!(created.data.as_ref().map(|d| d.len()), Some(2));
    let managed = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("alice"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // Re-applying the same config is a no-op.
    let again = api.patch("ssa", &alice, &Patch::Apply(&cfg)).await?;
    assert_eq!(again.metadata.resource_version, created.metadata.resource_version);

    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let st = status_of(api.patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob)).await);
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    let causes = st.details.expect("details").causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".data.a");
    let forced = api.patch("ssa", &PatchParams::apply("bob").force(), &Patch::Apply(&bob)).await?;
    assert_eq!(forced.data.as_ref().and_then(|d| d.get("a")).map(String::as_str), Some("9"));

    // alice drops `b` from her config: the field is removed.
    let smaller = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}});
    let after = api.patch("ssa", &alice, &Patch::Apply(&smaller)).await?;
    let data = after.data.unwrap_or_default();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["a"]);

    // A non-apply update takes ownership; bob now conflicts with it.
    let upd = api
        .patch(
            "ssa",
            &PatchParams { field_manager: Some("editor".into()), ..Default::default() },
            &Patch::Merge(json!({"data": {"a": "10"}})),
        )
        .await?;
    assert!(
        upd.metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|m| m.manager.as_deref() == Some("editor") && m.operation.as_deref() == Some("Update"))
    );
    let bob2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "11"}});
    let st = status_of(api.patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob2)).await);
    assert_eq!(st.code, 409);
    assert!(st.message.contains("editor"), "{}", st.message);
    Ok(())
}
