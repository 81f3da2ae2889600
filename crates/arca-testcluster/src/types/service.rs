//! Services: cluster IP and node port allocation, `clusterIP` immutability.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, cause};
use crate::meta;
use crate::registry::ResourceType;
use crate::state::Allocators;

fn allocate_ip(alloc: &mut Allocators) -> String {
    let n = alloc.next_ip;
    alloc.next_ip += 1;
    format!("10.96.{}.{}", (n / 254) % 256, n % 254 + 1)
}

fn needs_node_ports(spec: &Value) -> bool {
    matches!(spec.get("type").and_then(Value::as_str), Some("NodePort") | Some("LoadBalancer"))
}

fn default_ports(alloc: &mut Allocators, spec: &mut Value, old: Option<&Value>) {
    let node_ports = needs_node_ports(spec);
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    for port in ports.iter_mut() {
        let p = meta::as_map(port);
        p.entry("protocol").or_insert_with(|| json!("TCP"));
        if let Some(number) = p.get("port").cloned() {
            p.entry("targetPort").or_insert(number);
        }
        if !node_ports {
            continue;
        }
        if p.get("nodePort").and_then(Value::as_u64).unwrap_or(0) != 0 {
            continue;
        }
        let previous = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|x| x.get("port") == p.get("port") && x.get("name") == p.get("name")))
            .and_then(|x| x.get("nodePort").cloned());
        let value = previous.unwrap_or_else(|| {
            let n = alloc.next_node_port;
            alloc.next_node_port = if n >= 32767 { 30000 } else { n + 1 };
            json!(n)
        });
        p.insert("nodePort".into(), value);
    }
}

pub fn on_create(alloc: &mut Allocators, _rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let spec = meta::object_mut(obj, "spec");
    let kind = spec.entry("type").or_insert_with(|| json!("ClusterIP")).as_str().unwrap_or_default().to_string();
    if kind != "ExternalName" {
        let ip = match spec.get("clusterIP").and_then(Value::as_str) {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => allocate_ip(alloc),
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert_with(|| json!("SingleStack"));
        spec.entry("internalTrafficPolicy").or_insert_with(|| json!("Cluster"));
    }
    spec.entry("sessionAffinity").or_insert_with(|| json!("None"));
    if let Some(spec) = obj.get_mut("spec") {
        default_ports(alloc, spec, None);
    }
    meta::object_mut(obj, "status").insert("loadBalancer".into(), json!({}));
    Ok(())
}

pub fn on_update(alloc: &mut Allocators, rt: &ResourceType, old: &Value, new: &mut Value) -> ApiResult<()> {
    let old_ip = old.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
    let spec = meta::object_mut(new, "spec");
    spec.entry("type").or_insert_with(|| json!("ClusterIP"));
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    let new_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
    if !external && !old_ip.is_empty() {
        if new_ip.is_empty() {
            // Upstream fills in allocated values a client left out.
            spec.insert("clusterIP".into(), json!(old_ip));
            spec.insert("clusterIPs".into(), json!([old_ip]));
        } else if new_ip != old_ip {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                meta::name(old),
                vec![cause(
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    format!("Invalid value: []string{{\"{new_ip}\"}}: may not change once set"),
                )],
            ));
        }
    }
    if let Some(spec) = new.get_mut("spec") {
        default_ports(alloc, spec, Some(old));
    }
    Ok(())
}
