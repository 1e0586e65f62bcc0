//! Health of a live object by kstatus's rules (kubernetes-sigs/cli-utils `pkg/kstatus/status`),
//! which Flux's `--wait` and `kubectl apply --prune`'s successors use: the generic rules first
//! (being deleted; `metadata.generation` not yet observed; a `Reconciling` or `Stalled`
//! condition), then the rules of the built-in kinds (Deployment, StatefulSet, DaemonSet,
//! ReplicaSet, Job, Pod, PersistentVolumeClaim, Service, CustomResourceDefinition, …), then for
//! any other kind its `Ready` condition if it has one (the convention of Flux's and most
//! controllers' custom resources); without one it is Current as soon as it exists.
//!
//! One difference from kstatus: a Pod that stays unschedulable is Failed at once rather than after
//! kstatus's 15 s grace, because deciding on time would make the planner depend on a clock; the
//! caller's wait loop gives it its time.

use std::fmt;

use serde_json::Value;

use super::{at, str_at};
use crate::manifest::split_api_version;

/// The status of an object, kstatus's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Reconciled: the controllers have done what the spec asks.
    Current,
    /// Not yet there, but nothing says it will not get there.
    InProgress,
    /// It will not get there without a change (a deadline exceeded, a job failed, stalled).
    Failed,
    /// Being deleted.
    Terminating,
    /// Not on the server.
    NotFound,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Current => "Current",
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
        })
    }
}

/// A status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: Status,
    /// kstatus's reason (`LessReady`, `ProgressDeadlineExceeded`, …); empty when there is none.
    pub reason: String,
    pub message: String,
}

impl Health {
    fn new(status: Status, reason: &str, message: impl Into<String>) -> Self {
        Health {
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
    fn current(message: impl Into<String>) -> Self {
        Health::new(Status::Current, "", message)
    }
    fn progressing(reason: &str, message: impl Into<String>) -> Self {
        Health::new(Status::InProgress, reason, message)
    }
    fn failed(reason: &str, message: impl Into<String>) -> Self {
        Health::new(Status::Failed, reason, message)
    }

    /// Whether waiting is over (Current) or pointless (Failed).
    pub fn is_final(&self) -> bool {
        matches!(self.status, Status::Current | Status::Failed)
    }
}

/// The health of a live object; `None` (it was not found) is [`Status::NotFound`].
pub fn health(live: Option<&Value>) -> Health {
    let Some(obj) = live else {
        return Health::new(Status::NotFound, "", "Resource not found");
    };
    if let Some(h) = generic(obj) {
        return h;
    }
    let (group, _) = split_api_version(str_at(obj, &["apiVersion"]).unwrap_or(""));
    let kind = str_at(obj, &["kind"]).unwrap_or("");
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps" | "extensions", "DaemonSet") => daemonset(obj),
        ("apps" | "extensions", "ReplicaSet") => replicaset(obj),
        ("batch", "Job") => job(obj),
        ("", "Pod") => pod(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("", "Service") => service(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Secret" | "ConfigMap") | ("batch", "CronJob") => {
            Health::current("Resource is always ready")
        }
        ("policy", "PodDisruptionBudget") => {
            Health::current("AllowedDisruptions has been computed.")
        }
        _ => ready_condition(obj).unwrap_or_else(|| Health::current("Resource is current")),
    }
}

struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

fn conditions(obj: &Value) -> Vec<Condition<'_>> {
    at(obj, &["status", "conditions"])
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| Condition {
                    kind: c.get("type").and_then(Value::as_str).unwrap_or(""),
                    status: c.get("status").and_then(Value::as_str).unwrap_or(""),
                    reason: c.get("reason").and_then(Value::as_str).unwrap_or(""),
                    message: c.get("message").and_then(Value::as_str).unwrap_or(""),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn int(obj: &Value, path: &[&str], default: i64) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(default)
}

/// kstatus `checkGenericProperties`.
fn generic(obj: &Value) -> Option<Health> {
    if str_at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_empty()) {
        return Some(Health::new(
            Status::Terminating,
            "",
            "Resource scheduled for deletion",
        ));
    }
    if let (Some(generation), Some(observed)) = (
        at(obj, &["metadata", "generation"]).and_then(Value::as_i64),
        at(obj, &["status", "observedGeneration"]).and_then(Value::as_i64),
    ) {
        if generation != observed {
            let kind = str_at(obj, &["kind"]).unwrap_or("");
            return Some(Health::progressing(
                "LatestGenerationNotObserved",
                format!(
                    "{kind} generation is {generation}, but latest observed generation is {observed}"
                ),
            ));
        }
    }
    for c in conditions(obj) {
        if c.kind == "Reconciling" && c.status == "True" {
            return Some(Health::progressing(c.reason, c.message));
        }
        if c.kind == "Stalled" && c.status == "True" {
            return Some(Health::failed(c.reason, c.message));
        }
    }
    None
}

/// The `Ready` condition convention of custom resources.
fn ready_condition(obj: &Value) -> Option<Health> {
    let c = conditions(obj).into_iter().find(|c| c.kind == "Ready")?;
    let message = if c.message.is_empty() {
        format!("Ready condition is {}", c.status)
    } else {
        c.message.to_owned()
    };
    Some(match c.status {
        "True" => Health::current(message),
        _ => Health::progressing(c.reason, message),
    })
}

fn deployment(obj: &Value) -> Health {
    // Without progressDeadlineSeconds the controller never sets Progressing, so it cannot be
    // waited for; kstatus then treats the deployment as progressing.
    let mut progressing = at(obj, &["spec", "progressDeadlineSeconds"]).is_none();
    let mut available = false;
    for c in conditions(obj) {
        match c.kind {
            "Progressing" => {
                if c.reason == "ProgressDeadlineExceeded" {
                    let message = if c.message.is_empty() {
                        "Progress deadline exceeded".to_owned()
                    } else {
                        format!("Progress deadline exceeded: {}", c.message)
                    };
                    return Health::failed("ProgressDeadlineExceeded", message);
                }
                if c.status == "True" && c.reason == "NewReplicaSetAvailable" {
                    progressing = true;
                }
            }
            "Available" if c.status == "True" => available = true,
            _ => {}
        }
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let avail = int(obj, &["status", "availableReplicas"], 0);
    if spec > replicas {
        return Health::progressing("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return Health::progressing("LessUpdated", format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return Health::progressing(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if updated > avail {
        return Health::progressing("LessAvailable", format!("Available: {avail}/{updated}"));
    }
    if spec > ready {
        return Health::progressing("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return Health::progressing("ReplicaSetNotAvailable", "ReplicaSet not Available");
    }
    if !available {
        return Health::progressing("DeploymentNotAvailable", "Deployment not Available");
    }
    Health::current(format!("Deployment is available. Replicas: {replicas}"))
}

fn statefulset(obj: &Value) -> Health {
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::current("StatefulSet is using the ondelete update strategy");
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let current = int(obj, &["status", "currentReplicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let replicas = int(obj, &["status", "replicas"], 0);
    let partition = int(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        -1,
    );
    if spec > replicas {
        return Health::progressing("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return Health::progressing("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return Health::progressing(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if partition != -1 {
        if updated < spec - partition {
            return Health::progressing(
                "PartitionRollout",
                format!("updated: {updated}/{}", spec - partition),
            );
        }
        return Health::current(format!("Partition rollout complete. updated: {updated}"));
    }
    if spec > current {
        return Health::progressing("LessCurrent", format!("current: {current}/{spec}"));
    }
    if str_at(obj, &["status", "currentRevision"]) != str_at(obj, &["status", "updateRevision"]) {
        return Health::progressing(
            "RevisionMismatch",
            "Waiting for updated revision to match current",
        );
    }
    Health::current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

fn daemonset(obj: &Value) -> Health {
    // The controller always sets these once it has seen the object; kstatus insists on them.
    let kind = str_at(obj, &["kind"]).unwrap_or("DaemonSet");
    if at(obj, &["metadata", "generation"]).is_none() {
        return Health::progressing(
            "NoGeneration",
            format!("{kind} metadata.generation not found"),
        );
    }
    if at(obj, &["status", "observedGeneration"]).is_none() {
        return Health::progressing(
            "NoObservedGeneration",
            format!("{kind} status.observedGeneration not found"),
        );
    }
    let desired = int(obj, &["status", "desiredNumberScheduled"], -1);
    let current = int(obj, &["status", "currentNumberScheduled"], 0);
    let updated = int(obj, &["status", "updatedNumberScheduled"], 0);
    let available = int(obj, &["status", "numberAvailable"], 0);
    let ready = int(obj, &["status", "numberReady"], 0);
    if desired == -1 {
        return Health::progressing("NoDesiredNumber", "Missing .status.desiredNumberScheduled");
    }
    if desired > current {
        return Health::progressing("LessCurrent", format!("Current: {current}/{desired}"));
    }
    if desired > updated {
        return Health::progressing("LessUpdated", format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return Health::progressing("LessAvailable", format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return Health::progressing("LessReady", format!("Ready: {ready}/{desired}"));
    }
    Health::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    ))
}

fn replicaset(obj: &Value) -> Health {
    if conditions(obj)
        .iter()
        .any(|c| c.kind == "ReplicaFailure" && c.status == "True")
    {
        return Health::progressing("ReplicaFailure", "Replica Failure condition. Check Pods");
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let available = int(obj, &["status", "availableReplicas"], 0);
    let labelled = int(obj, &["status", "fullyLabeledReplicas"], 0);
    if spec > labelled {
        return Health::progressing("LessLabelled", format!("Labelled: {labelled}/{spec}"));
    }
    if spec > available {
        return Health::progressing("LessAvailable", format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return Health::progressing("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return Health::progressing(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    Health::current(format!("ReplicaSet is available. Replicas: {replicas}"))
}

fn job(obj: &Value) -> Health {
    let parallelism = int(obj, &["spec", "parallelism"], 1);
    let completions = int(obj, &["spec", "completions"], parallelism);
    let succeeded = int(obj, &["status", "succeeded"], 0);
    let active = int(obj, &["status", "active"], 0);
    let failed = int(obj, &["status", "failed"], 0);
    for c in conditions(obj) {
        if c.status != "True" {
            continue;
        }
        match c.kind {
            "Complete" => {
                return Health::current(format!(
                    "Job Completed. succeeded: {succeeded}/{completions}"
                ))
            }
            "Failed" => {
                let mut message = format!("Job Failed. failed: {failed}/{completions}");
                if !c.reason.is_empty() {
                    message.push_str(&format!(" ({})", c.reason));
                }
                return Health::failed("JobFailed", message);
            }
            "Suspended" => return Health::current("Job is suspended"),
            _ => {}
        }
    }
    if str_at(obj, &["status", "startTime"])
        .unwrap_or("")
        .is_empty()
    {
        return Health::progressing("JobNotStarted", "Job not started");
    }
    Health::current(format!(
        "Job in progress. success:{succeeded}, active: {active}, failed: {failed}"
    ))
}

fn pod(obj: &Value) -> Health {
    let conds = conditions(obj);
    match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "Succeeded" => Health::current("Pod has completed successfully"),
        "Failed" => Health::current("Pod has completed, but not successfully"),
        "Running" => {
            if conds
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True")
            {
                return Health::current("Pod is Ready");
            }
            let looping: Vec<&str> = at(obj, &["status", "containerStatuses"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|cs| {
                    at(cs, &["state", "waiting", "reason"]).and_then(Value::as_str)
                        == Some("CrashLoopBackOff")
                })
                .filter_map(|cs| cs.get("name").and_then(Value::as_str))
                .collect();
            if !looping.is_empty() {
                return Health::failed(
                    "ContainerCrashLooping",
                    format!("Containers in CrashLoop state: {}", looping.join(",")),
                );
            }
            Health::progressing("PodRunningNotReady", "Pod is running but is not Ready")
        }
        "Pending" => {
            if conds.iter().any(|c| {
                c.kind == "PodScheduled" && c.status == "False" && c.reason == "Unschedulable"
            }) {
                return Health::failed("PodUnschedulable", "Pod could not be scheduled");
            }
            Health::progressing("PodPending", "Pod is in the Pending phase")
        }
        "" => Health::progressing("PodNotObserved", "Pod phase not available"),
        other => Health::progressing("PodUnknownPhase", format!("Pod phase is {other}")),
    }
}

fn pvc(obj: &Value) -> Health {
    match str_at(obj, &["status", "phase"]) {
        Some("Bound") => Health::current("PVC is Bound"),
        phase => Health::progressing(
            "NotBound",
            format!("PVC is not Bound. phase: {}", phase.unwrap_or("unknown")),
        ),
    }
}

fn service(obj: &Value) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer")
        && str_at(obj, &["spec", "clusterIP"]).unwrap_or("").is_empty()
    {
        return Health::progressing(
            "NoIPAssigned",
            "ClusterIP not set. Service type: LoadBalancer",
        );
    }
    Health::current("Service is ready")
}

fn crd(obj: &Value) -> Health {
    for c in conditions(obj) {
        if c.kind == "NamesAccepted" && c.status == "False" {
            return Health::failed(c.reason, c.message);
        }
        if c.kind == "Established" {
            if c.status == "False" && c.reason != "Installing" {
                return Health::failed(c.reason, c.message);
            }
            if c.status == "True" {
                return Health::current("CRD is established");
            }
        }
    }
    Health::progressing("Installing", "Install in progress")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status_of(obj: Value) -> (Status, String) {
        let h = health(Some(&obj));
        (h.status, h.message)
    }

    fn deploy(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": 2, "progressDeadlineSeconds": 600},
               "status": status})
    }

    #[test]
    fn not_found_and_terminating() {
        assert_eq!(health(None).status, Status::NotFound);
        let obj = json!({"kind": "ConfigMap", "apiVersion": "v1",
                         "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(health(Some(&obj)).status, Status::Terminating);
    }

    #[test]
    fn deployment_rollout_and_deadline() {
        let rolled = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2, "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(
            status_of(rolled),
            (
                Status::Current,
                "Deployment is available. Replicas: 2".into()
            )
        );

        let stale = deploy(json!({"observedGeneration": 1}));
        assert_eq!(
            status_of(stale),
            (
                Status::InProgress,
                "Deployment generation is 2, but latest observed generation is 1".into()
            )
        );

        let half = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 1, "availableReplicas": 1}),
        );
        assert_eq!(
            status_of(half),
            (Status::InProgress, "Available: 1/2".into())
        );

        let stuck = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"web-5d9\" has timed out progressing."}]}),
        );
        let h = health(Some(&stuck));
        assert_eq!(h.status, Status::Failed);
        assert_eq!(h.reason, "ProgressDeadlineExceeded");
        assert_eq!(
            h.message,
            "Progress deadline exceeded: ReplicaSet \"web-5d9\" has timed out progressing."
        );
        assert!(h.is_final());
    }

    #[test]
    fn statefulset_and_daemonset() {
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {},
            "spec": {"replicas": 3},
            "status": {"replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                       "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(
            status_of(sts),
            (
                Status::InProgress,
                "Waiting for updated revision to match current".into()
            )
        );
        let ds_unobserved = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"generation": 1}, "status": {}});
        assert_eq!(
            status_of(ds_unobserved),
            (
                Status::InProgress,
                "DaemonSet status.observedGeneration not found".into()
            )
        );
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2,
                "numberReady": 2}});
        assert_eq!(health(Some(&ds)).status, Status::Current);
    }

    #[test]
    fn jobs_complete_fail_or_wait_to_start() {
        let job = |status: Value| {
            json!({"apiVersion": "batch/v1", "kind": "Job",
                                         "metadata": {}, "spec": {}, "status": status})
        };
        assert_eq!(
            status_of(job(json!({}))),
            (Status::InProgress, "Job not started".into())
        );
        let failed = health(Some(&job(json!({"failed": 6, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}))));
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(
            failed.message,
            "Job Failed. failed: 6/1 (BackoffLimitExceeded)"
        );
        assert_eq!(
            status_of(job(json!({"succeeded": 1, "conditions": [
                {"type": "Complete", "status": "True"}]}))),
            (Status::Current, "Job Completed. succeeded: 1/1".into())
        );
    }

    #[test]
    fn pods_pvcs_services_crds() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            status_of(pod),
            (Status::Failed, "Containers in CrashLoop state: app".into())
        );
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {},
                         "status": {"phase": "Pending"}});
        assert_eq!(
            status_of(pvc),
            (
                Status::InProgress,
                "PVC is not Bound. phase: Pending".into()
            )
        );
        let lb = json!({"apiVersion": "v1", "kind": "Service", "metadata": {},
                        "spec": {"type": "LoadBalancer"}});
        assert_eq!(health(Some(&lb)).status, Status::InProgress);
        let crd = |conds: Value| {
            json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {}, "status": {"conditions": conds}})
        };
        assert_eq!(
            status_of(crd(json!([{"type": "Established", "status": "True"}]))),
            (Status::Current, "CRD is established".into())
        );
        assert_eq!(
            status_of(crd(json!([]))),
            (Status::InProgress, "Install in progress".into())
        );
        assert_eq!(
            status_of(crd(json!([{"type": "NamesAccepted", "status": "False",
                "reason": "MultipleNamesNotAllowed", "message": "\"w\" is already in use"}]))),
            (Status::Failed, "\"w\" is already in use".into())
        );
    }

    #[test]
    fn generic_conditions_for_custom_resources() {
        let cr = |conds: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"generation": 3}, "status": {"observedGeneration": 3, "conditions": conds}})
        };
        assert_eq!(
            status_of(cr(
                json!([{"type": "Ready", "status": "True", "message": "ok"}])
            )),
            (Status::Current, "ok".into())
        );
        assert_eq!(
            status_of(cr(
                json!([{"type": "Ready", "status": "False", "reason": "Waiting"}])
            )),
            (Status::InProgress, "Ready condition is False".into())
        );
        assert_eq!(
            status_of(cr(json!([{"type": "Ready", "status": "False"},
                {"type": "Stalled", "status": "True", "reason": "Bad", "message": "bad spec"}]))),
            (Status::Failed, "bad spec".into())
        );
        assert_eq!(
            status_of(cr(
                json!([{"type": "Reconciling", "status": "True", "message": "working"}])
            )),
            (Status::InProgress, "working".into())
        );
        assert_eq!(
            status_of(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}})),
            (Status::Current, "Resource is current".into())
        );
    }
}
