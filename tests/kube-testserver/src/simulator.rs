//! The status simulator: stands in for the controllers a real cluster runs, so health checks
//! (kstatus rules, `kubectl rollout status`-like logic) have something to observe. Workloads
//! report "progressing" when their generation changes and "ready" once `ready_after` has
//! passed; single objects can be pinned unready or failed (Deployment Progressing=False
//! ProgressDeadlineExceeded, Job Failed BackoffLimitExceeded).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::store::{Key, Store};

/// How one object should behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Become ready after the configured delay (the default).
    Normal,
    /// Stay progressing forever.
    Unready,
    /// Fail: Deployment Progressing=False (ProgressDeadlineExceeded), Job Failed
    /// (BackoffLimitExceeded); StatefulSets, DaemonSets and ReplicaSets stay unready.
    Fail,
}

/// Simulator settings and bookkeeping.
#[derive(Debug)]
pub struct Simulator {
    /// Whether statuses are written at all.
    pub enabled: bool,
    /// How long after a spec change a workload becomes ready.
    pub ready_after: Duration,
    /// Per-object behaviour by (kind, namespace, name).
    pub overrides: HashMap<(String, String, String), Behaviour>,
    /// When each object's current generation was first seen: (uid, generation) → (instant, wall).
    seen: HashMap<(String, i64), (Instant, SystemTime)>,
}

impl Simulator {
    /// A simulator with these settings.
    pub fn new(enabled: bool, ready_after: Duration) -> Simulator {
        Simulator {
            enabled,
            ready_after,
            overrides: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    /// Recomputes the status of every workload.
    pub fn tick(&mut self, store: &mut Store) {
        if !self.enabled {
            return;
        }
        for (group, plural) in [
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("apps", "replicasets"),
            ("batch", "jobs"),
        ] {
            for obj in store.of_type(group, plural) {
                let meta = &obj["metadata"];
                let uid = meta["uid"].as_str().unwrap_or("").to_string();
                let gen = meta["generation"].as_i64().unwrap_or(1);
                let (since, wall) = *self
                    .seen
                    .entry((uid, gen))
                    .or_insert_with(|| (Instant::now(), SystemTime::now()));
                let kind = obj["kind"].as_str().unwrap_or("").to_string();
                let ns = meta["namespace"].as_str().unwrap_or("").to_string();
                let name = meta["name"].as_str().unwrap_or("").to_string();
                let behaviour = self
                    .overrides
                    .get(&(kind.clone(), ns.clone(), name.clone()))
                    .copied()
                    .unwrap_or(Behaviour::Normal);
                let elapsed = since.elapsed() >= self.ready_after;
                let phase = match behaviour {
                    Behaviour::Normal if elapsed => Phase::Ready,
                    Behaviour::Fail if elapsed => Phase::Failed,
                    _ => Phase::Progressing,
                };
                let started = rfc3339(wall);
                let done = rfc3339(wall + self.ready_after);
                let status = match kind.as_str() {
                    "Deployment" => deployment(&obj, gen, phase, &started, &done),
                    "StatefulSet" => statefulset(&obj, gen, phase),
                    "DaemonSet" => daemonset(gen, phase),
                    "ReplicaSet" => replicaset(&obj, gen, phase),
                    "Job" => job(&obj, phase, &started, &done),
                    _ => continue,
                };
                let key: Key = (group.to_string(), plural.to_string(), ns, name);
                store.set_status(&key, status);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Progressing,
    Ready,
    Failed,
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// A stable pod-template-hash-like suffix for ReplicaSet/revision names.
fn revision(obj: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default()
        .hash(&mut h);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{name}-{:010x}", h.finish() & 0xff_ffff_ffff)
}

fn cond(t: &str, status: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({"type": t, "status": status, "lastUpdateTime": at, "lastTransitionTime": at, "reason": reason, "message": message})
}

fn deployment(obj: &Value, gen: i64, phase: Phase, started: &str, done: &str) -> Value {
    let n = replicas(obj);
    let rs = revision(obj);
    let phase = if n == 0 && phase == Phase::Progressing {
        Phase::Ready
    } else {
        phase
    };
    match phase {
        Phase::Ready => {
            let mut s = json!({"observedGeneration": gen, "conditions": [
                cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", done),
                cond("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs}\" has successfully progressed."), done),
            ]});
            if n > 0 {
                for f in [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ] {
                    s[f] = json!(n);
                }
            }
            s
        }
        Phase::Progressing => {
            json!({"observedGeneration": gen, "replicas": n, "updatedReplicas": n, "unavailableReplicas": n, "conditions": [
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", started),
                cond("Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{rs}\" is progressing."), started),
            ]})
        }
        Phase::Failed => {
            json!({"observedGeneration": gen, "replicas": n, "updatedReplicas": n, "unavailableReplicas": n, "conditions": [
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", started),
                cond("Progressing", "False", "ProgressDeadlineExceeded", &format!("ReplicaSet \"{rs}\" has timed out progressing."), done),
            ]})
        }
    }
}

fn statefulset(obj: &Value, gen: i64, phase: Phase) -> Value {
    let n = replicas(obj);
    let rev = revision(obj);
    let mut s = json!({"observedGeneration": gen, "replicas": n, "currentReplicas": n, "updatedReplicas": n,
        "currentRevision": rev, "updateRevision": rev, "collisionCount": 0, "availableReplicas": 0});
    if phase == Phase::Ready {
        s["readyReplicas"] = json!(n);
        s["availableReplicas"] = json!(n);
    }
    s
}

fn daemonset(gen: i64, phase: Phase) -> Value {
    // One simulated node.
    let ready = i64::from(phase == Phase::Ready);
    let mut s = json!({"observedGeneration": gen, "currentNumberScheduled": 1, "desiredNumberScheduled": 1,
        "numberMisscheduled": 0, "numberReady": ready, "updatedNumberScheduled": 1, "numberAvailable": ready});
    if ready == 0 {
        s["numberUnavailable"] = json!(1);
        if let Some(m) = s.as_object_mut() {
            m.remove("numberAvailable");
        }
    }
    s
}

fn replicaset(obj: &Value, gen: i64, phase: Phase) -> Value {
    let n = replicas(obj);
    let mut s = json!({"observedGeneration": gen, "replicas": n, "fullyLabeledReplicas": n});
    if phase == Phase::Ready {
        s["readyReplicas"] = json!(n);
        s["availableReplicas"] = json!(n);
    }
    s
}

fn job(obj: &Value, phase: Phase, started: &str, done: &str) -> Value {
    let completions = obj
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let parallelism = obj
        .pointer("/spec/parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let jc = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastProbeTime": done, "lastTransitionTime": done, "reason": reason, "message": msg});
    match phase {
        Phase::Progressing => {
            json!({"active": parallelism, "ready": 0, "terminating": 0, "startTime": started, "uncountedTerminatedPods": {}})
        }
        Phase::Ready => {
            json!({"succeeded": completions, "ready": 0, "terminating": 0, "startTime": started, "completionTime": done,
            "uncountedTerminatedPods": {}, "conditions": [
                jc("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                jc("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ]})
        }
        Phase::Failed => {
            json!({"failed": 1, "ready": 0, "terminating": 0, "startTime": started, "uncountedTerminatedPods": {}, "conditions": [
                jc("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                jc("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            ]})
        }
    }
}
