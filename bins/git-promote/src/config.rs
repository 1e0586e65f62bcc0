//! The GitOps repository's promotion settings, `.gitops/promote.yaml` on its default branch:
//! the environments in promotion order, where each one's manifests live, which branch they are
//! committed to, whether a change needs a pull request, and the Git host. Without the file the
//! default layout applies (see [`Config::default_layout`]).

use serde::Deserialize;

use crate::error::PromoteError;

/// Where the settings live in the GitOps repository.
pub const CONFIG_PATH: &str = ".gitops/promote.yaml";

/// The whole file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Environments in promotion order (dev → qa → prod).
    pub environments: Vec<Environment>,
    /// Name of the promotion branch; `{env}`, `{app}` and `{digest}` (12 hex digits of the
    /// stream digest) are replaced.
    #[serde(default = "default_branch_template")]
    pub branch_template: String,
    /// If set, only these apps may be promoted.
    #[serde(default)]
    pub apps: Option<Vec<String>>,
    /// The Git host that receives pull requests.
    #[serde(default)]
    pub provider: ProviderSettings,
}

/// One environment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    pub name: String,
    /// The branch the environment's cluster follows; the remote's default branch if unset.
    #[serde(default)]
    pub branch: Option<String>,
    /// Where an app's rendered manifests go; `{env}` and `{app}` are replaced.
    #[serde(default = "default_path")]
    pub path: String,
    /// Where an app's templates go; `{env}` and `{app}` are replaced.
    #[serde(default = "default_templates_path")]
    pub templates_path: String,
    /// Changes go through a pull request (true) or straight onto the branch (false).
    #[serde(default = "yes")]
    pub pull_request: bool,
    /// Ask the host to merge the pull request once its checks pass.
    #[serde(default)]
    pub auto_merge: bool,
}

/// The Git host; everything can also come from flags or be derived from the remote URL.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSettings {
    /// `github`, `gitlab`, `azure` or `gitea`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// API base URL (`https://api.github.com`, `https://gitlab.example.com/api/v4`, …).
    #[serde(default)]
    pub url: Option<String>,
    /// The repository on the host: `owner/name`, `group/sub/project`, or `org/project/repo`
    /// for Azure DevOps.
    #[serde(default)]
    pub repository: Option<String>,
}

fn default_branch_template() -> String {
    "promote/{env}/{app}-{digest}".to_owned()
}
fn default_path() -> String {
    "clusters/{env}/{app}".to_owned()
}
fn default_templates_path() -> String {
    "templates/{env}/{app}".to_owned()
}
fn yes() -> bool {
    true
}

impl Config {
    /// dev → qa → prod on the default branch, manifests in `clusters/{env}/{app}`, templates
    /// in `templates/{env}/{app}`; dev is committed directly, qa and prod need a pull request.
    pub fn default_layout() -> Self {
        let env = |name: &str, pull_request: bool| Environment {
            name: name.to_owned(),
            branch: None,
            path: default_path(),
            templates_path: default_templates_path(),
            pull_request,
            auto_merge: false,
        };
        Config {
            environments: vec![env("dev", false), env("qa", true), env("prod", true)],
            branch_template: default_branch_template(),
            apps: None,
            provider: ProviderSettings::default(),
        }
    }

    /// Parses and checks the file's text (`name` is used in messages).
    pub fn parse(text: &str, name: &str) -> Result<Self, PromoteError> {
        let config: Config = gitops::manifest::from_yaml_str(text, name)?;
        config.check(name)?;
        Ok(config)
    }

    fn check(&self, name: &str) -> Result<(), PromoteError> {
        let bad = |msg: String| Err(PromoteError::Config(format!("{name}: {msg}")));
        if self.environments.is_empty() {
            return bad("no environments".to_owned());
        }
        for (i, env) in self.environments.iter().enumerate() {
            if !valid_name(&env.name) {
                return bad(format!("environment name {:?} {NAME_RULE}", env.name));
            }
            if self.environments[..i].iter().any(|e| e.name == env.name) {
                return bad(format!("environment {:?} is listed twice", env.name));
            }
            if !env.path.contains("{app}") {
                return bad(format!(
                    "environment {:?}: path must contain {{app}}",
                    env.name
                ));
            }
            if !env.templates_path.contains("{app}") {
                return bad(format!(
                    "environment {:?}: templatesPath must contain {{app}}",
                    env.name
                ));
            }
            for (field, template) in [("path", &env.path), ("templatesPath", &env.templates_path)] {
                check_path(template).map_err(|why| {
                    PromoteError::Config(format!(
                        "{name}: environment {:?}: {field} {template:?} {why}",
                        env.name
                    ))
                })?;
            }
            if let Some(branch) = &env.branch {
                gitops::git::check_branch_name(branch).map_err(|why| {
                    PromoteError::Config(format!(
                        "{name}: environment {:?}: branch {why}",
                        env.name
                    ))
                })?;
            }
        }
        if !self.branch_template.contains("{digest}") && !self.branch_template.contains("{app}") {
            return bad("branchTemplate must contain {app} or {digest}".to_owned());
        }
        // With sample values: a template that cannot make a valid name fails here, not at push.
        let sample = expand_branch(&self.branch_template, "env", "app", "0123456789ab");
        if let Err(why) = gitops::git::check_branch_name(&sample) {
            return bad(format!(
                "branchTemplate {:?} does not make a valid branch name ({why})",
                self.branch_template
            ));
        }
        Ok(())
    }

    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Result<&Environment, PromoteError> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                PromoteError::Usage(format!(
                    "unknown environment {name:?} (known: {})",
                    self.environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Checks an app name against the naming rule and the allow-list, if there is one.
    pub fn check_app(&self, app: &str) -> Result<(), PromoteError> {
        if !valid_name(app) {
            return Err(PromoteError::Usage(format!("app name {app:?} {NAME_RULE}")));
        }
        match &self.apps {
            Some(apps) if !apps.iter().any(|a| a == app) => Err(PromoteError::Usage(format!(
                "unknown app {app:?} (this repository allows: {})",
                apps.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// The promotion branch for a change.
    pub fn branch_name(&self, env: &str, app: &str, digest: &str) -> String {
        expand_branch(&self.branch_template, env, app, digest)
    }
}

/// A branch template with `{env}`, `{app}` and `{digest}` replaced.
pub fn expand_branch(template: &str, env: &str, app: &str, digest: &str) -> String {
    template
        .replace("{env}", env)
        .replace("{app}", app)
        .replace("{digest}", digest)
}

/// A path template must name a place inside the repository: relative, without `.`, `..` or
/// `.git` components (an absolute path would silently become relative to the repository root).
fn check_path(template: &str) -> Result<(), String> {
    if template.starts_with('/') {
        return Err("must be relative to the repository root (it starts with '/')".to_owned());
    }
    let trimmed = template.trim_end_matches('/');
    for part in trimmed.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.eq_ignore_ascii_case(".git") {
            return Err(format!(
                "must be a path inside the repository (it has a {:?} component)",
                part
            ));
        }
    }
    Ok(())
}

impl Environment {
    /// Where `app`'s manifests go in this environment.
    pub fn manifests_path(&self, app: &str) -> String {
        expand(&self.path, &self.name, app)
    }

    /// Where `app`'s templates go in this environment.
    pub fn templates_path(&self, app: &str) -> String {
        expand(&self.templates_path, &self.name, app)
    }

    /// The directory that holds every app of this environment (the path up to `{app}`), when
    /// `{app}` is its last component.
    pub fn apps_root(&self) -> Option<String> {
        let expanded = self.path.replace("{env}", &self.name);
        let root = expanded.strip_suffix("{app}")?;
        (!root.contains("{app}")).then(|| root.trim_end_matches('/').to_owned())
    }
}

fn expand(template: &str, env: &str, app: &str) -> String {
    template
        .replace("{env}", env)
        .replace("{app}", app)
        .trim_matches('/')
        .to_owned()
}

/// The rule [`valid_name`] checks, as the messages state it.
pub const NAME_RULE: &str = "must be 1 to 63 characters: lowercase letters, digits, '-', '_' and '.', not starting with '-' or '.'";

/// Names become path components and branch names: keep them boring.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name != "."
        && name != ".."
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_has_three_environments() {
        let c = Config::default_layout();
        let names: Vec<_> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "qa", "prod"]);
        let dev = c.environment("dev").unwrap();
        assert_eq!(dev.manifests_path("web"), "clusters/dev/web");
        assert_eq!(dev.templates_path("web"), "templates/dev/web");
        assert_eq!(dev.apps_root().as_deref(), Some("clusters/dev"));
        assert!(!dev.pull_request);
        assert!(c.environment("prod").unwrap().pull_request);
        assert_eq!(c.branch_name("qa", "web", "abc"), "promote/qa/web-abc");
    }

    #[test]
    fn file_overrides_defaults() {
        let c = Config::parse(
            "environments:\n- name: dev\n  branch: develop\n  path: envs/{env}/apps/{app}/\n  pullRequest: false\n- name: prod\nbranchTemplate: deploy/{app}/{digest}\napps: [web]\nprovider: {type: gitea, repository: org/gitops}\n",
            "f",
        )
        .unwrap();
        let dev = c.environment("dev").unwrap();
        assert_eq!(dev.branch.as_deref(), Some("develop"));
        assert_eq!(dev.manifests_path("web"), "envs/dev/apps/web");
        assert!(c.environment("prod").unwrap().pull_request);
        assert_eq!(c.provider.kind.as_deref(), Some("gitea"));
        assert!(c.check_app("web").is_ok());
        assert!(c
            .check_app("api")
            .unwrap_err()
            .to_string()
            .contains("unknown app \"api\""));
    }

    #[test]
    fn mistakes_are_reported() {
        let e = Config::parse("environments:\n- name: dev\n  pth: x\n", "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f:") && e.contains("unknown field `pth`"),
            "{e}"
        );
        let e = Config::parse("environments: []\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no environments"), "{e}");
        let e = Config::parse("environments:\n- name: dev\n  path: static\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must contain {app}"), "{e}");
        let e = Config::parse("environments:\n- name: dev\n  path: /srv/{app}\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("path \"/srv/{app}\" must be relative"), "{e}");
        let e = Config::parse(
            "environments:\n- name: dev\n  templatesPath: a/../{app}\n",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be a path inside the repository"), "{e}");
        let e = Config::parse("environments:\n- name: dev\n  branch: 'env dev'\n", "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("branch \"env dev\" is not a valid branch name"),
            "{e}"
        );
        let e = Config::parse(
            "environments:\n- name: dev\nbranchTemplate: 'promote/{app}..x'\n",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not make a valid branch name"), "{e}");
        // The position is printed once, in front.
        let e = Config::parse("environments:\n- name: dev\n  pth: x\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f:3:"), "{e}");
        assert!(!e.contains("at line"), "{e}");
        let e = Config::default_layout()
            .environment("stage")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "unknown environment \"stage\" (known: dev, qa, prod)");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("web-1.v2"));
        for bad in ["", "..", "a/b", "Web", "-x", ".x", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(64)));
        let e = Config::default_layout()
            .check_app("-web")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "app name \"-web\" must be 1 to 63 characters: lowercase letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        );
    }
}
