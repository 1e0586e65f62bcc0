//! Defaulting and validation on write, modelled on the apiserver's: the defaults real clusters
//! add (so a naive desired-vs-live comparison shows the same spurious differences), ClusterIP
//! allocation, and the immutable-field rules that answer 422 Invalid.

use serde_json::{json, Map, Value};

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

/// Sets `key` to `val` when absent.
fn def(m: &mut Map<String, Value>, key: &str, val: Value) {
    m.entry(key.to_string()).or_insert(val);
}

/// Applies defaults to an object of `kind` (core/apps/batch kinds; others untouched).
/// `next_ip` hands out ClusterIPs for Services.
pub fn apply_defaults(kind: &str, o: &mut Value, next_ip: &mut dyn FnMut() -> String) {
    match kind {
        "Service" => service(o, next_ip),
        "Pod" => {
            if let Some(spec) = o.get_mut("spec") {
                pod_spec(spec, "Always");
            }
        }
        "Deployment" => {
            let Some(spec) = o.get_mut("spec").and_then(obj) else {
                return;
            };
            def(spec, "replicas", json!(1));
            def(spec, "revisionHistoryLimit", json!(10));
            def(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Some(s) = obj(strategy) {
                def(s, "type", json!("RollingUpdate"));
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = obj(ru) {
                        def(ru, "maxUnavailable", json!("25%"));
                        def(ru, "maxSurge", json!("25%"));
                    }
                }
            }
            template(spec, "Always");
        }
        "StatefulSet" => {
            let Some(spec) = o.get_mut("spec").and_then(obj) else {
                return;
            };
            def(spec, "replicas", json!(1));
            def(spec, "revisionHistoryLimit", json!(10));
            def(spec, "podManagementPolicy", json!("OrderedReady"));
            def(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            def(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            template(spec, "Always");
        }
        "DaemonSet" => {
            let Some(spec) = o.get_mut("spec").and_then(obj) else {
                return;
            };
            def(spec, "revisionHistoryLimit", json!(10));
            def(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            template(spec, "Always");
        }
        "ReplicaSet" => {
            let Some(spec) = o.get_mut("spec").and_then(obj) else {
                return;
            };
            def(spec, "replicas", json!(1));
            template(spec, "Always");
        }
        "Job" => {
            if let Some(spec) = o.get_mut("spec").and_then(obj) {
                job_spec(spec);
            }
            job_labels(o);
        }
        "CronJob" => {
            let Some(spec) = o.get_mut("spec").and_then(obj) else {
                return;
            };
            def(spec, "concurrencyPolicy", json!("Allow"));
            def(spec, "suspend", json!(false));
            def(spec, "successfulJobsHistoryLimit", json!(3));
            def(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(jt) = spec
                .get_mut("jobTemplate")
                .and_then(|j| j.get_mut("spec"))
                .and_then(obj)
            {
                job_spec(jt);
            }
        }
        "Namespace" => {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            if let Some(m) = o.get_mut("metadata").and_then(obj) {
                let labels = m.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = obj(labels) {
                    def(l, "kubernetes.io/metadata.name", name);
                }
            }
            if let Some(m) = obj(o) {
                let spec = m.entry("spec").or_insert_with(|| json!({}));
                if let Some(s) = obj(spec) {
                    def(s, "finalizers", json!(["kubernetes"]));
                }
                m.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        "Secret" => {
            if let Some(m) = obj(o) {
                if m.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    m.insert("type".into(), json!("Opaque"));
                }
                // stringData is write-only: the apiserver folds it into data.
                if let Some(Value::Object(sd)) = m.remove("stringData") {
                    use base64::Engine as _;
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Some(d) = obj(data) {
                        for (k, v) in sd {
                            let raw = v.as_str().unwrap_or("").to_string();
                            d.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(raw)),
                            );
                        }
                    }
                }
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(spec) = o.get_mut("spec").and_then(obj) {
                def(spec, "volumeMode", json!("Filesystem"));
            }
        }
        _ => {}
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    def(spec, "backoffLimit", json!(6));
    def(spec, "completionMode", json!("NonIndexed"));
    def(spec, "completions", json!(1));
    def(spec, "parallelism", json!(1));
    def(spec, "suspend", json!(false));
    def(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    template(spec, "Never");
}

/// Jobs get a generated selector and controller labels, as the Job strategy adds them.
fn job_labels(o: &mut Value) {
    let uid = o
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if uid.is_empty() {
        return;
    }
    let Some(spec) = o.get_mut("spec").and_then(obj) else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    spec.entry("selector")
        .or_insert_with(|| json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    if let Some(meta) = spec
        .get_mut("template")
        .and_then(|t| t.as_object_mut())
        .map(|t| t.entry("metadata").or_insert_with(|| json!({})))
    {
        if let Some(m) = obj(meta) {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = obj(labels) {
                def(l, "batch.kubernetes.io/controller-uid", json!(uid));
                def(l, "batch.kubernetes.io/job-name", json!(name));
                def(l, "controller-uid", json!(uid));
                def(l, "job-name", json!(name));
            }
        }
    }
}

fn template(spec: &mut Map<String, Value>, restart: &str) {
    if let Some(t) = spec.get_mut("template").and_then(obj) {
        t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(ps) = t.get_mut("spec") {
            pod_spec(ps, restart);
        }
    }
}

fn pod_spec(ps: &mut Value, restart: &str) {
    let Some(ps) = obj(ps) else { return };
    def(ps, "restartPolicy", json!(restart));
    def(ps, "dnsPolicy", json!("ClusterFirst"));
    def(ps, "schedulerName", json!("default-scheduler"));
    def(ps, "securityContext", json!({}));
    def(ps, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = ps.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(obj) {
                container(c);
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    // The tag is after the last '/' (a registry port is not a tag); digests pin the image.
    let last = image.rsplit('/').next().unwrap_or("");
    let tag = if image.contains('@') {
        Some("digest")
    } else {
        last.split_once(':').map(|(_, t)| t)
    };
    let policy = match tag {
        None | Some("latest") => "Always",
        Some(_) => "IfNotPresent",
    };
    def(c, "imagePullPolicy", json!(policy));
    def(c, "terminationMessagePath", json!("/dev/termination-log"));
    def(c, "terminationMessagePolicy", json!("File"));
    def(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(obj) {
            def(p, "protocol", json!("TCP"));
        }
    }
}

fn service(o: &mut Value, next_ip: &mut dyn FnMut() -> String) {
    let Some(spec) = o.get_mut("spec").and_then(obj) else {
        return;
    };
    def(spec, "type", json!("ClusterIP"));
    def(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "ExternalName" {
        return;
    }
    if !spec.contains_key("clusterIP") {
        let ip = match spec.get("clusterIPs").and_then(|a| a.get(0)).cloned() {
            Some(ip) => ip,
            None => json!(next_ip()),
        };
        spec.insert("clusterIP".into(), ip);
    }
    let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
    def(spec, "clusterIPs", json!([ip]));
    def(spec, "ipFamilies", json!(["IPv4"]));
    def(spec, "ipFamilyPolicy", json!("SingleStack"));
    def(spec, "internalTrafficPolicy", json!("Cluster"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        def(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    let mut node_port = 30000;
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(obj) {
            def(p, "protocol", json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            def(p, "targetPort", port);
            if ty == "NodePort" || ty == "LoadBalancer" {
                node_port += 1;
                def(p, "nodePort", json!(node_port));
            }
        }
    }
}

/// One validation failure: (field path, message).
pub type Cause = (String, String);

/// Rejects changes to immutable fields between `old` and `new` (same kind).
pub fn immutable_violations(kind: &str, api_version: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let changed = |p: &str| old.pointer(p) != new.pointer(p);
    let immutable = "field is immutable".to_string();
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
            if api_version == "apps/v1" && changed("/spec/selector") =>
        {
            out.push((
                "spec.selector".to_string(),
                format!(
                    "Invalid value: {}: {immutable}",
                    new.pointer("/spec/selector")
                        .cloned()
                        .unwrap_or(Value::Null)
                ),
            ));
        }
        "Service" => {
            let old_ip = old.pointer("/spec/clusterIP");
            let new_ip = new.pointer("/spec/clusterIP");
            // An empty or absent clusterIP on update means "keep"; the strategy copies it.
            if old_ip.is_some()
                && new_ip.is_some_and(|v| v.as_str() != Some(""))
                && old_ip != new_ip
            {
                out.push((
                    "spec.clusterIPs[0]".to_string(),
                    format!(
                        "Invalid value: {}: may not change once set",
                        new_ip.cloned().unwrap_or(Value::Null)
                    ),
                ));
            }
        }
        "Job" => {
            if changed("/spec/selector") {
                out.push(("spec.selector".to_string(), immutable.clone()));
            }
            if changed("/spec/template") {
                out.push((
                    "spec.template".to_string(),
                    "Invalid value: field is immutable".to_string(),
                ));
            }
            if changed("/spec/completions") {
                out.push(("spec.completions".to_string(), immutable.clone()));
            }
        }
        "ConfigMap" | "Secret" if old.get("immutable").and_then(Value::as_bool) == Some(true) => {
            if changed("/data") || changed("/binaryData") {
                out.push((
                    "data".to_string(),
                    "Forbidden: field is immutable when `immutable` is set".to_string(),
                ));
            }
            if changed("/immutable") {
                out.push((
                    "immutable".to_string(),
                    "Forbidden: field is immutable when `immutable` is set".to_string(),
                ));
            }
        }
        _ => {}
    }
    out
}

/// Keeps fields the apiserver preserves on update even if the client drops them (Service
/// clusterIP/clusterIPs/ipFamilies: clients that omit them are not asking to change them).
pub fn carry_over(kind: &str, old: &Value, new: &mut Value) {
    if kind != "Service" {
        return;
    }
    let Some(spec) = new.get_mut("spec").and_then(obj) else {
        return;
    };
    for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        let missing = spec.get(f).is_none_or(|v| v.as_str() == Some(""));
        if missing {
            if let Some(v) = old.pointer(&format!("/spec/{f}")) {
                spec.insert(f.to_string(), v.clone());
            }
        }
    }
}

/// Basic create-time validation: what a real server would reject outright.
pub fn validate(kind: &str, o: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        out.push((
            "metadata.name".to_string(),
            "Required value: name or generateName is required".to_string(),
        ));
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        || name.len() > 253
    {
        out.push(("metadata.name".to_string(), format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'")));
    }
    if matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
    ) {
        if o.pointer("/spec/selector").is_none() {
            out.push(("spec.selector".to_string(), "Required value".to_string()));
        }
        if o.pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .is_none_or(|c| c.is_empty())
        {
            out.push((
                "spec.template.spec.containers".to_string(),
                "Required value".to_string(),
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn deployment_and_service_defaults() {
        let mut d = json!({"spec": {"selector": {}, "template": {"spec": {"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "reg:5000/x:1.2"}]}}}});
        apply_defaults("Deployment", &mut d, &mut || "10.96.0.10".into());
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "Always");
        assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply_defaults("Service", &mut s, &mut || "10.96.0.10".into());
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
    }
}
