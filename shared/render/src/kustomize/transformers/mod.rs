//! kustomize's built-in transformers that act on field specs: namespace, name prefix/suffix,
//! labels, annotations, images and replicas. Their default field specs follow kustomize's
//! `builtinpluginconsts`.

pub mod images;
pub mod metadata;
pub mod namespace;

use std::sync::OnceLock;

use super::fieldspec::{table, Defaults, FieldSpec};

/// The built-in field specs of every transformer, which `configurations:` files extend.
pub fn defaults() -> Defaults<'static> {
    static NAME: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    static NAMESPACE: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    let name = NAME.get_or_init(|| table("metadata/name||||"));
    Defaults {
        name_prefix: name,
        name_suffix: name,
        namespace: NAMESPACE.get_or_init(|| {
            table(
                "metadata/name|Namespace|||c
                spec/service/namespace|APIService|apiregistration.k8s.io||c
                spec/conversion/webhook/clientConfig/service/namespace|CustomResourceDefinition|apiextensions.k8s.io||",
            )
        }),
        common_labels: common_labels(),
        template_labels: template_labels(),
        volume_claim_template_labels: volume_claim_template_labels(),
        common_annotations: common_annotations(),
        name_reference: super::namereference::targets(),
        var_reference: super::vars::var_reference(),
        images: images_specs(),
        replicas: replicas(),
    }
}

/// `commonLabels` and `labels` with `includeSelectors: true`.
pub fn common_labels() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        table(
            "metadata/labels||||c
            spec/selector|Service||v1|c
            spec/selector|ReplicationController||v1|c
            spec/template/metadata/labels|ReplicationController||v1|c
            spec/selector/matchLabels|Deployment|||c
            spec/template/metadata/labels|Deployment|||c
            spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels|Deployment|apps||
            spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels|Deployment|apps||
            spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels|Deployment|apps||
            spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels|Deployment|apps||
            spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels|Deployment|apps||
            spec/selector/matchLabels|ReplicaSet|||c
            spec/template/metadata/labels|ReplicaSet|||c
            spec/selector/matchLabels|DaemonSet|||c
            spec/template/metadata/labels|DaemonSet|||c
            spec/selector/matchLabels|StatefulSet|apps||c
            spec/template/metadata/labels|StatefulSet|apps||c
            spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels|StatefulSet|apps||
            spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels|StatefulSet|apps||
            spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels|StatefulSet|apps||
            spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels|StatefulSet|apps||
            spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels|StatefulSet|apps||
            spec/volumeClaimTemplates[]/metadata/labels|StatefulSet|apps||c
            spec/selector/matchLabels|Job|batch||
            spec/template/metadata/labels|Job|batch||c
            spec/jobTemplate/spec/selector/matchLabels|CronJob|batch||
            spec/jobTemplate/metadata/labels|CronJob|batch||c
            spec/jobTemplate/spec/template/metadata/labels|CronJob|batch||c
            spec/selector/matchLabels|PodDisruptionBudget|policy||
            spec/podSelector/matchLabels|NetworkPolicy|networking.k8s.io||
            spec/ingress/from/podSelector/matchLabels|NetworkPolicy|networking.k8s.io||
            spec/egress/to/podSelector/matchLabels|NetworkPolicy|networking.k8s.io||",
        )
    })
}

/// `labels` with `includeTemplates: true` (and without selectors).
pub fn template_labels() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        table(
            "metadata/labels||||c
            spec/template/metadata/labels|ReplicationController||v1|c
            spec/template/metadata/labels|Deployment|||c
            spec/template/metadata/labels|ReplicaSet|||c
            spec/template/metadata/labels|DaemonSet|||c
            spec/template/metadata/labels|StatefulSet|apps||c
            spec/template/metadata/labels|Job|batch||c
            spec/jobTemplate/metadata/labels|CronJob|batch||c
            spec/jobTemplate/spec/template/metadata/labels|CronJob|batch||c",
        )
    })
}

/// `labels` with `includeVolumeClaimTemplates: true` (kustomize 5.8: no longer implied by
/// `includeTemplates`).
pub fn volume_claim_template_labels() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| table("spec/volumeClaimTemplates[]/metadata/labels|StatefulSet|apps||c"))
}

/// `labels` without selectors or templates.
pub fn metadata_labels() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| table("metadata/labels||||c"))
}

/// `commonAnnotations`.
pub fn common_annotations() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        table(
            "metadata/annotations||||c
            spec/template/metadata/annotations|ReplicationController||v1|c
            spec/template/metadata/annotations|Deployment|||c
            spec/template/metadata/annotations|ReplicaSet|||c
            spec/template/metadata/annotations|DaemonSet|||c
            spec/template/metadata/annotations|StatefulSet|apps||c
            spec/template/metadata/annotations|Job|batch||c
            spec/jobTemplate/metadata/annotations|CronJob|batch||c
            spec/jobTemplate/spec/template/metadata/annotations|CronJob|batch||c",
        )
    })
}

/// `replicas`.
pub fn replicas() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        table(
            "spec/replicas|Deployment|||c
            spec/replicas|ReplicationController|||c
            spec/replicas|ReplicaSet|||c
            spec/replicas|StatefulSet|||c",
        )
    })
}

/// The image transformer's default field specs (the `images` field).
pub fn images_specs() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        table(
            "spec/containers[]/image||||c
            spec/initContainers[]/image||||c
            spec/volumes[]/image/reference||||c
            spec/template/spec/containers[]/image||||c
            spec/template/spec/initContainers[]/image||||c
            spec/template/spec/volumes[]/image/reference||||c",
        )
    })
}
