//! Objects the control plane keeps for itself: the `kubernetes` Service's
//! Endpoints and EndpointSlice, and the `extension-apiserver-authentication`
//! ConfigMap that extension API servers read.

use serde_json::{Value, json};

use super::put;
use crate::controllers::namespaces::ROOT_CA;
use crate::error::ApiError;
use crate::state::State;

/// The API server's address and port as the `kubernetes` Service targets it.
const API_ADDRESS: &str = "127.0.0.1";
const API_PORT: u16 = 6443;

fn endpoints() -> Value {
    json!({
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": API_ADDRESS}], "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}]}],
    })
}

fn endpoint_slice() -> Value {
    json!({
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [API_ADDRESS], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}],
    })
}

fn extension_apiserver_authentication() -> Value {
    json!({
        "metadata": {"name": "extension-apiserver-authentication"},
        "data": {
            "client-ca-file": ROOT_CA,
            "requestheader-allowed-names": "[\"front-proxy-client\"]",
            "requestheader-client-ca-file": ROOT_CA,
            "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
            "requestheader-group-headers": "[\"X-Remote-Group\"]",
            "requestheader-username-headers": "[\"X-Remote-User\"]",
        },
    })
}

pub fn seed(state: &mut State) -> Result<(), ApiError> {
    put(state, "", "endpoints", "default", endpoints())?;
    put(state, "discovery.k8s.io", "endpointslices", "default", endpoint_slice())?;
    put(state, "", "configmaps", "kube-system", extension_apiserver_authentication())
}
