//! Where the cluster is and who we are to it, found the way kubectl (client-go) finds it:
//! `--kubeconfig` if given; else the files listed in `KUBECONFIG` (merged, missing ones
//! skipped); else `~/.kube/config` if it exists; else, inside a pod, the service account
//! (`KUBERNETES_SERVICE_HOST`/`_PORT`, its token file and CA bundle). `--context` picks a context
//! of the kubeconfig, `-n` overrides its namespace.
//!
//! Nothing here reads the environment behind the caller's back: [`ConnectOptions::from_env`]
//! is the one place that does, and tests fill the fields themselves (the service-account
//! paths included, so the in-cluster path is testable without a pod).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use serde_json::json;

use super::error::one_line;
use super::{ClusterError, Result, RetryPolicy};

/// Where a pod's service account is mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The service account of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`; without it we are not in a cluster.
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: Option<String>,
    /// The bearer token (re-read when it rotates).
    pub token_file: PathBuf,
    /// The CA bundle that signed the API server's certificate.
    pub ca_file: PathBuf,
    /// The pod's namespace, the default for namespaced objects.
    pub namespace_file: PathBuf,
}

impl Default for InCluster {
    fn default() -> Self {
        let dir = Path::new(SERVICE_ACCOUNT_DIR);
        InCluster {
            host: None,
            port: None,
            token_file: dir.join("token"),
            ca_file: dir.join("ca.crt"),
            namespace_file: dir.join("namespace"),
        }
    }
}

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// An explicit kubeconfig file (`--kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
    /// The value of `KUBECONFIG`: files separated by `:`.
    pub kubeconfig_env: Option<OsString>,
    /// The home directory, for `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// The kubeconfig context to use (`--context`); default: its current context.
    pub context: Option<String>,
    /// The default namespace (`-n`); default: the context's, or the pod's, or `default`.
    pub namespace: Option<String>,
    pub in_cluster: InCluster,
    pub retry: RetryPolicy,
    /// Give up on a request that has not been answered after this long (none by default, as
    /// kubectl: a large list can take a while).
    pub read_timeout: Option<Duration>,
}

impl ConnectOptions {
    /// Options from the process environment: `KUBECONFIG`, `HOME`, `KUBERNETES_SERVICE_HOST`
    /// and `KUBERNETES_SERVICE_PORT`. Flags are then set by the caller.
    pub fn from_env() -> Self {
        ConnectOptions {
            kubeconfig_env: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            in_cluster: InCluster {
                host: std::env::var("KUBERNETES_SERVICE_HOST").ok(),
                port: std::env::var("KUBERNETES_SERVICE_PORT").ok(),
                ..InCluster::default()
            },
            ..ConnectOptions::default()
        }
    }
}

/// The cluster-access flags every cluster tool takes, as kubectl spells them (`--kubeconfig`,
/// `--context`, `-n/--namespace`), flattened into the tool's arguments so that their names,
/// value names and meaning are defined once. A tool whose `-n` means a little more (sync-once's
/// default inventory lives there) rewords the help with clap's `mut_arg`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then the pod's service
    /// account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace of namespaced objects that have none.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

impl ClusterArgs {
    /// The options to connect with: the process environment ([`ConnectOptions::from_env`]) with
    /// these flags on top.
    pub fn connect_options(self) -> ConnectOptions {
        ConnectOptions {
            kubeconfig: self.kubeconfig,
            context: self.context,
            namespace: self.namespace,
            ..ConnectOptions::from_env()
        }
    }
}

/// Which source the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// These kubeconfig files (merged in order).
    Kubeconfig(Vec<PathBuf>),
    /// The pod's service account.
    InCluster,
}

/// Decides where the configuration comes from, without reading any file but checking which
/// exist.
pub fn source(options: &ConnectOptions) -> Result<Source> {
    if let Some(path) = &options.kubeconfig {
        return Ok(Source::Kubeconfig(vec![path.clone()]));
    }
    if let Some(list) = options.kubeconfig_env.as_ref().filter(|v| !v.is_empty()) {
        let files: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let existing: Vec<PathBuf> = files.iter().filter(|p| p.exists()).cloned().collect();
        if existing.is_empty() {
            return Err(ClusterError::Config {
                message: format!(
                    "none of the files in KUBECONFIG exists ({})",
                    files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        return Ok(Source::Kubeconfig(existing));
    }
    if let Some(home) = &options.home {
        let default = home.join(".kube").join("config");
        if default.exists() {
            return Ok(Source::Kubeconfig(vec![default]));
        }
    }
    if options.in_cluster.host.is_some() {
        return Ok(Source::InCluster);
    }
    Err(ClusterError::Config {
        message: "no kubeconfig (KUBECONFIG is unset and ~/.kube/config does not exist) and not \
                  running in a pod (KUBERNETES_SERVICE_HOST is unset)"
            .into(),
    })
}

/// The kube configuration for the options.
pub(crate) async fn config(options: &ConnectOptions) -> Result<kube::Config> {
    let source = source(options)?;
    let (kubeconfig, context) = match &source {
        Source::Kubeconfig(files) => {
            let mut merged: Option<Kubeconfig> = None;
            for file in files {
                let one = Kubeconfig::read_from(file).map_err(|e| kubeconfig_error(file, &e))?;
                merged = Some(match merged {
                    None => one,
                    Some(m) => m.merge(one).map_err(|e| kubeconfig_error(file, &e))?,
                });
            }
            let kubeconfig = merged.ok_or_else(|| ClusterError::Config {
                message: "no kubeconfig file".into(),
            })?;
            if let Some(ctx) = &options.context {
                if !kubeconfig.contexts.iter().any(|c| &c.name == ctx) {
                    return Err(ClusterError::Config {
                        message: format!("context {ctx:?} is not in the kubeconfig"),
                    });
                }
            }
            (kubeconfig, options.context.clone())
        }
        Source::InCluster => (in_cluster_kubeconfig(&options.in_cluster)?, None),
    };
    let kube_options = KubeConfigOptions {
        context,
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(|e| ClusterError::Config {
            message: describe_kubeconfig_error(&e),
        })?;
    register_secrets(&config.auth_info);
    if let Some(ns) = &options.namespace {
        config.default_namespace = ns.clone();
    }
    // Our own bounded retry policy replaces kube's (which retries 15 times for up to 1000 s).
    config.default_retry = false;
    config.read_timeout = options.read_timeout;
    Ok(config)
}

/// Tells the scrubber every credential of the chosen user, so that no error or log line a tool
/// prints can show one, even if a server or proxy echoed it back.
fn register_secrets(auth: &kube::config::AuthInfo) {
    use secrecy::ExposeSecret as _;
    if let Some(token) = &auth.token {
        crate::scrub::register(token.expose_secret().trim());
    }
    if let Some(password) = &auth.password {
        crate::scrub::register(password.expose_secret());
    }
    if let Some(file) = &auth.token_file {
        // kube reads the file itself (and again when it rotates); we read it once to know it.
        if let Ok(token) = std::fs::read_to_string(file) {
            crate::scrub::register(token.trim());
        }
    }
}

/// A kubeconfig standing for the pod's service account, so that kube reads (and re-reads, as
/// it rotates) the token file and parses the CA bundle the same way as for any kubeconfig.
fn in_cluster_kubeconfig(sa: &InCluster) -> Result<Kubeconfig> {
    let host = sa.host.as_deref().unwrap_or_default();
    let port = sa.port.as_deref().unwrap_or("443");
    let fail = |message: String| ClusterError::Config { message };
    for (what, path) in [("token", &sa.token_file), ("CA bundle", &sa.ca_file)] {
        if !path.exists() {
            return Err(fail(format!(
                "in a pod (KUBERNETES_SERVICE_HOST is set) but the service account {what} {} \
                 does not exist",
                path.display()
            )));
        }
    }
    let namespace = std::fs::read_to_string(&sa.namespace_file)
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    // An IPv6 address needs brackets in a URL.
    let server = if host.contains(':') && !host.starts_with('[') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "in-cluster", "cluster": {
            "server": server,
            "certificate-authority": sa.ca_file.display().to_string(),
        }}],
        "users": [{"name": "service-account", "user": {
            "tokenFile": sa.token_file.display().to_string(),
        }}],
        "contexts": [{"name": "in-cluster", "context": {
            "cluster": "in-cluster", "user": "service-account", "namespace": namespace,
        }}],
        "current-context": "in-cluster",
    });
    serde_json::from_value(doc).map_err(|e| fail(format!("in-cluster configuration: {e}")))
}

fn kubeconfig_error(file: &Path, err: &KubeconfigError) -> ClusterError {
    ClusterError::Config {
        message: format!("{}: {}", file.display(), describe_kubeconfig_error(err)),
    }
}

/// A one-line description. A YAML parse error is reduced to its position: parser messages may
/// quote the text around the error, and a kubeconfig holds tokens and keys.
fn describe_kubeconfig_error(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::Parse(inner) => {
            let text = inner.to_string();
            let position = text
                .find(" at line ")
                .map(|i| text[i + 1..].split([',', '\n']).next().unwrap_or(""))
                .unwrap_or("");
            if position.is_empty() {
                "not a valid kubeconfig (YAML does not parse)".to_owned()
            } else {
                format!("not a valid kubeconfig (YAML does not parse {position})")
            }
        }
        KubeconfigError::ReadConfig(io, _) => format!("cannot read the kubeconfig: {io}"),
        other => one_line(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn source_precedence_is_kubectls() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = write(tmp.path(), "a", "");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".kube")).expect("mkdir");
        let home_cfg = write(&home.join(".kube"), "config", "");
        let in_pod = InCluster {
            host: Some("10.0.0.1".into()),
            ..InCluster::default()
        };

        let mut opts = ConnectOptions {
            kubeconfig: Some(a.clone()),
            kubeconfig_env: Some(home_cfg.clone().into_os_string()),
            home: Some(home.clone()),
            in_cluster: in_pod.clone(),
            ..ConnectOptions::default()
        };
        assert_eq!(
            source(&opts).expect("explicit"),
            Source::Kubeconfig(vec![a.clone()])
        );

        opts.kubeconfig = None;
        let missing = tmp.path().join("missing");
        opts.kubeconfig_env = Some(std::env::join_paths([&missing, &a]).expect("join"));
        assert_eq!(
            source(&opts).expect("env"),
            Source::Kubeconfig(vec![a.clone()])
        );

        opts.kubeconfig_env = Some(missing.clone().into_os_string());
        let err = source(&opts).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cluster configuration: none of the files in KUBECONFIG exists ({})",
                missing.display()
            )
        );

        opts.kubeconfig_env = None;
        assert_eq!(
            source(&opts).expect("home"),
            Source::Kubeconfig(vec![home_cfg])
        );

        opts.home = Some(tmp.path().join("nohome"));
        assert_eq!(source(&opts).expect("pod"), Source::InCluster);

        opts.in_cluster = InCluster::default();
        assert!(source(&opts)
            .unwrap_err()
            .to_string()
            .contains("not running in a pod (KUBERNETES_SERVICE_HOST is unset)"));
    }

    #[test]
    fn in_cluster_paths_are_checked_and_used() {
        let tmp = tempfile::tempdir().expect("tmp");
        let sa = InCluster {
            host: Some("fd00::1".into()),
            port: Some("6443".into()),
            token_file: tmp.path().join("token"),
            ca_file: tmp.path().join("ca.crt"),
            namespace_file: tmp.path().join("namespace"),
        };
        let err = in_cluster_kubeconfig(&sa).unwrap_err().to_string();
        assert!(err.contains("the service account token"), "{err}");
        assert!(err.contains(&tmp.path().join("token").display().to_string()));

        write(tmp.path(), "token", "secret-token-value");
        write(tmp.path(), "ca.crt", "");
        write(tmp.path(), "namespace", "team-a\n");
        let kc = in_cluster_kubeconfig(&sa).expect("kubeconfig");
        let cluster = kc.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://[fd00::1]:6443"));
        let user = kc.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(
            user.token_file.as_deref(),
            Some(tmp.path().join("token").to_str().expect("utf-8"))
        );
        assert_eq!(
            kc.contexts[0]
                .context
                .as_ref()
                .and_then(|c| c.namespace.as_deref()),
            Some("team-a")
        );
        // The token itself is never copied into the configuration.
        assert!(!format!("{kc:?}").contains("secret-token-value"));
    }

    #[tokio::test]
    async fn bad_kubeconfig_errors_do_not_quote_the_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = write(
            tmp.path(),
            "config",
            "users:\n- name: u\n  user:\n    token: hunter2-secret\n  : : [\n",
        );
        let opts = ConnectOptions {
            kubeconfig: Some(path.clone()),
            ..ConnectOptions::default()
        };
        let err = config(&opts).await.unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            err.starts_with(&format!(
                "cluster configuration: {}: not a valid kubeconfig",
                path.display()
            )),
            "{err}"
        );

        let good = write(
            tmp.path(),
            "good",
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n\
             users:\n- name: u\n  user: {token: hunter2-secret}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: ns1}\n\
             current-context: x\n",
        );
        let opts = ConnectOptions {
            kubeconfig: Some(good.clone()),
            context: Some("nope".into()),
            ..ConnectOptions::default()
        };
        assert_eq!(
            config(&opts).await.unwrap_err().to_string(),
            "cluster configuration: context \"nope\" is not in the kubeconfig"
        );
        let opts = ConnectOptions {
            kubeconfig: Some(good),
            ..ConnectOptions::default()
        };
        let cfg = config(&opts).await.expect("config");
        assert_eq!(
            crate::scrub::scrub("the server said: hunter2-secret"),
            "the server said: ***",
            "the token is registered with the scrubber"
        );
        assert_eq!(cfg.default_namespace, "ns1");
        assert!(!cfg.default_retry);
        assert_eq!(cfg.cluster_url.to_string(), "http://127.0.0.1:1/");
    }
}
