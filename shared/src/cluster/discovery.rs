//! What the server serves: for every group/version/kind its plural resource name, whether it is
//! namespaced and which verbs it supports, and for every group/kind the version to use.
//!
//! Discovery uses the aggregated discovery documents (`/api` and `/apis` with the
//! `apidiscovery.k8s.io/v2` media type, Kubernetes 1.26+): two requests however many groups the
//! server has. kube's `Discovery::run_aggregated` fails on a server that does not offer them;
//! then we fall back to kube's classic `Discovery::run`, one request per group version, which is
//! what kubectl does against old servers too. The result is an immutable snapshot; after
//! creating CRDs a caller refreshes it ([`super::Cluster::refresh_discovery`]).

use std::collections::{BTreeMap, HashMap};

use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use super::GroupKind;

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural resource name in URLs (`deployments`).
    pub plural: String,
    pub namespaced: bool,
    /// The verbs the server allows (`get`, `list`, `patch`, …).
    pub verbs: Vec<String>,
}

impl Resource {
    /// `group/version` or `version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    /// Whether the server lists this verb for the resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    pub(crate) fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    fn from_kube(ar: &ApiResource, caps: &ApiCapabilities) -> Self {
        Resource {
            group: ar.group.clone(),
            version: ar.version.clone(),
            kind: ar.kind.clone(),
            plural: ar.plural.clone(),
            namespaced: caps.scope == Scope::Namespaced,
            verbs: caps.operations.clone(),
        }
    }
}

/// A snapshot of the server's resources.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    by_gvk: HashMap<(String, String, String), Resource>,
    /// Per group and kind, the resource at the group's preferred version (or, for a kind the
    /// preferred version lacks, its most stable one).
    by_gk: BTreeMap<GroupKind, Resource>,
    aggregated: bool,
}

impl Discovery {
    /// A snapshot of the given resources, the first version of a group/kind being preferred.
    /// (What the adapter builds from the server; also how planners' callers are tested.)
    pub fn from_resources(resources: impl IntoIterator<Item = Resource>) -> Self {
        let mut discovery = Discovery::default();
        for r in resources {
            discovery.insert(r);
        }
        discovery
    }

    fn insert(&mut self, r: Resource) {
        self.by_gk
            .entry(r.group_kind())
            .or_insert_with(|| r.clone());
        self.by_gvk
            .entry((r.group.clone(), r.version.clone(), r.kind.clone()))
            .or_insert(r);
    }

    /// The resource serving exactly this group/version/kind.
    pub fn resolve(&self, group: &str, version: &str, kind: &str) -> Option<&Resource> {
        self.by_gvk
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
    }

    /// The resource to use for a group/kind whatever its version (the preferred one).
    pub fn resolve_group_kind(&self, gk: &GroupKind) -> Option<&Resource> {
        self.by_gk.get(gk)
    }

    /// Whether a group/kind is namespaced; `None` when the server does not serve it.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> Option<bool> {
        self.by_gk
            .get(&GroupKind::new(group, kind))
            .map(|r| r.namespaced)
    }

    /// Every group/kind, at its preferred version, in group/kind order.
    pub fn group_kinds(&self) -> impl Iterator<Item = &Resource> {
        self.by_gk.values()
    }

    /// How many group/version/kinds the server serves.
    pub fn len(&self) -> usize {
        self.by_gvk.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_gvk.is_empty()
    }

    /// Whether the snapshot came from aggregated discovery.
    pub fn aggregated(&self) -> bool {
        self.aggregated
    }

    /// Runs discovery against the server: aggregated first, the classic per-group walk when the
    /// server does not offer it.
    pub(crate) async fn run(client: &kube::Client) -> Result<Self, kube::Error> {
        let (found, aggregated) = match kube::Discovery::new(client.clone()).run_aggregated().await
        {
            Ok(found) => (found, true),
            Err(err) if is_transport(&err) => return Err(err),
            Err(_) => (kube::Discovery::new(client.clone()).run().await?, false),
        };
        let mut discovery = Discovery {
            aggregated,
            ..Discovery::default()
        };
        for group in found.groups_alphabetical() {
            // The preferred version's resources first, so that they win `by_gk`; then every
            // other version, most stable first, for kinds the preferred version lacks and for
            // exact group/version/kind lookups.
            let mut versions: Vec<&str> = group.versions().collect();
            let preferred = group.preferred_version_or_latest().to_owned();
            versions.sort_by_key(|v| *v != preferred);
            for version in versions {
                // Subresources (`deployments/status`) are not in this list. Resources are kept
                // whatever their verbs, so that a kind the server knows but cannot patch is
                // reported as such ([`Resource::supports`]), not as unknown.
                for (ar, caps) in group.versioned_resources(version) {
                    discovery.insert(Resource::from_kube(&ar, &caps));
                }
            }
        }
        Ok(discovery)
    }
}

/// Errors that say nothing about aggregated discovery support (the server is unreachable, the
/// credentials are refused): falling back would only repeat them.
fn is_transport(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 401 | 403),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::Auth(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Resource {
        Resource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            verbs: vec!["get".into(), "list".into(), "patch".into()],
        }
    }

    #[test]
    fn lookups_by_gvk_and_by_group_kind() {
        let d = Discovery::from_resources([
            res("apps", "v1", "Deployment", "deployments", true),
            res("", "v1", "Namespace", "namespaces", false),
            res("example.com", "v2", "Widget", "widgets", true),
            res("example.com", "v1", "Widget", "widgets", true),
        ]);
        assert_eq!(d.len(), 4);
        let w1 = d.resolve("example.com", "v1", "Widget").expect("served");
        assert_eq!(w1.api_version(), "example.com/v1");
        assert_eq!(
            d.resolve_group_kind(&GroupKind::new("example.com", "Widget"))
                .map(|r| r.version.as_str()),
            Some("v2")
        );
        assert_eq!(d.is_namespaced("", "Namespace"), Some(false));
        assert_eq!(d.is_namespaced("apps", "Deployment"), Some(true));
        assert_eq!(d.is_namespaced("apps", "Widget"), None);
        assert!(d.resolve("apps", "v1beta1", "Deployment").is_none());
        let ar = d
            .resolve("apps", "v1", "Deployment")
            .expect("served")
            .api_resource();
        assert_eq!(
            (ar.api_version.as_str(), ar.plural.as_str()),
            ("apps/v1", "deployments")
        );
        assert!(w1.supports("patch") && !w1.supports("delete"));
    }
}
