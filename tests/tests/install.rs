//! `make install` as a platform engineer runs it: the five binaries, the kubectl plugin link,
//! man pages and completions land under PREFIX; the pinned kubectl finds the plugin, and git
//! finds `git promote` with its man page. `make krew` as a plugin user meets it: the archive and
//! the manifest with its real sha256, installed by the real krew into a temporary KREW_ROOT,
//! after which kubectl lists and runs the plugin. Both use the debug build (`PROFILE=dev`) that
//! `make test` has already made, so no release build is needed here.

use std::path::{Path, PathBuf};

use harness::Cmd;

const TOOLS: [&str; 5] = [
    "manifest-render",
    "image-tag",
    "git-promote",
    "sync-once",
    "kubectl-gitops-diff",
];

fn path_with(prefix: &Path) -> std::ffi::OsString {
    path_with_dirs(&[prefix.join("bin")])
}

/// PATH with `dirs` in front.
fn path_with_dirs(dirs: &[PathBuf]) -> std::ffi::OsString {
    let mut paths = dirs.to_vec();
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

#[test]
fn make_install_puts_binaries_man_pages_completions_and_the_plugin_link_in_place() {
    let dir = harness::tempdir();
    let prefix = dir.path().join("prefix");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Cmd::program("make")
        .current_dir(&workspace)
        // The binaries under test are built already (make test does it); CARGO=true keeps make
        // from building them again with other features while other tests use them.
        .args(["-s", "install", "PROFILE=dev", "CARGO=true"])
        .arg(format!("PREFIX={}", prefix.display()))
        .run()
        .success();
    for tool in TOOLS {
        let bin = prefix.join("bin").join(tool);
        assert!(bin.is_file(), "{} was not installed", bin.display());
        let page = prefix.join("share/man/man1").join(format!("{tool}.1"));
        assert!(page.is_file(), "no man page {}", page.display());
        let bash = prefix.join("share/bash-completion/completions").join(tool);
        assert!(bash.is_file(), "no bash completion {}", bash.display());
        let zsh = prefix
            .join("share/zsh/site-functions")
            .join(format!("_{tool}"));
        assert!(zsh.is_file(), "no zsh completion {}", zsh.display());
        let fish = prefix
            .join("share/fish/vendor_completions.d")
            .join(format!("{tool}.fish"));
        assert!(fish.is_file(), "no fish completion {}", fish.display());
    }
    // A page per subcommand too, named as git names its pages, so that the SEE ALSO /
    // SUBCOMMANDS references of the tool's page (`image-tag-pin(1)`) resolve.
    for page in [
        "image-tag-compute",
        "image-tag-pin",
        "image-tag-mirror",
        "git-promote-status",
        "git-promote-rollback",
    ] {
        let path = prefix.join("share/man/man1").join(format!("{page}.1"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no man page {}: {e}", path.display()));
        assert!(
            text.contains(&format!(".TH {page} 1")),
            "{} is not the page of {page}:\n{text}",
            path.display()
        );
    }
    let tool_page = std::fs::read_to_string(prefix.join("share/man/man1/image-tag.1")).unwrap();
    assert!(tool_page.contains("image\\-tag\\-pin(1)"), "{tool_page}");
    let link = prefix.join("bin/kubectl-gitops_diff");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("kubectl-gitops-diff")
    );

    // kubectl finds the plugin under both names and runs it.
    let kubectl = harness::cluster::tool("kubectl");
    if harness::skip_without(kubectl.is_some(), "the pinned kubectl (make tools)") {
        return;
    }
    let kubectl = kubectl.unwrap();
    let list = Cmd::program(&kubectl)
        .args(["plugin", "list", "--name-only"])
        .env("PATH", path_with(&prefix))
        .run();
    assert!(
        list.stdout.contains("kubectl-gitops-diff") && list.stdout.contains("kubectl-gitops_diff"),
        "kubectl plugin list: {}{}",
        list.stdout,
        list.stderr
    );
    for words in [&["gitops", "diff"][..], &["gitops-diff"][..]] {
        Cmd::program(&kubectl)
            .args(words)
            .arg("--help")
            .env("PATH", path_with(&prefix))
            .run()
            .success()
            .stdout_contains("Usage: kubectl gitops diff");
    }

    // git runs `git promote` from PATH; `-h` is the tool's own help, `--help` opens its man page.
    Cmd::program("git")
        .args(["promote", "-h"])
        .env("PATH", path_with(&prefix))
        .run()
        .success()
        .stdout_contains("Usage: git promote");
    Cmd::program("git")
        .args(["promote", "--help"])
        .env("PATH", path_with(&prefix))
        .env("MANPATH", prefix.join("share/man"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .run()
        .success()
        .stdout_contains("git-promote(1)");
}

/// krew's names for this machine's platform (Go's GOOS/GOARCH).
fn krew_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => panic!("no krew name for architecture {other}"),
    };
    (std::env::consts::OS, arch)
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn make_krew_writes_an_archive_and_a_manifest_that_krew_installs_and_kubectl_runs() {
    let dir = harness::tempdir();
    let out = dir.path().join("krew-out");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = Cmd::program("make")
        .current_dir(&workspace)
        .args(["-s", "krew", "PROFILE=dev", "CARGO=true"])
        .arg(format!("KREW_DIR={}", out.display()))
        .run()
        .success();
    // stdout names the two files it wrote: the archive, then the manifest.
    let written: Vec<PathBuf> = run.stdout.lines().map(PathBuf::from).collect();
    let (os, arch) = krew_platform();
    let version = env!("CARGO_PKG_VERSION");
    let archive_name = format!("gitops-diff-v{version}-{os}-{arch}.tar.gz");
    assert_eq!(
        written,
        [out.join(&archive_name), out.join("gitops-diff.yaml")],
        "make krew printed {}",
        run.stdout
    );
    let archive = &written[0];
    let manifest_path = &written[1];

    // The manifest is krew's Plugin, filled in for this platform with the archive's real sha256.
    let text = std::fs::read_to_string(manifest_path).unwrap();
    let manifest: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "gitops-diff");
    let spec = &manifest["spec"];
    assert_eq!(spec["version"], format!("v{version}").as_str());
    assert!(spec["shortDescription"]
        .as_str()
        .is_some_and(|d| !d.contains('\n')));
    let platforms = spec["platforms"].as_sequence().unwrap();
    assert_eq!(platforms.len(), 1, "one platform, the host's: {text}");
    let platform = &platforms[0];
    assert_eq!(platform["selector"]["matchLabels"]["os"], os);
    assert_eq!(platform["selector"]["matchLabels"]["arch"], arch);
    assert_eq!(platform["sha256"], sha256_hex(archive).as_str());
    assert!(
        platform["uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("https://") && uri.ends_with(&archive_name)),
        "uri: {:?}",
        platform["uri"]
    );
    assert_eq!(platform["bin"], "kubectl-gitops-diff");
    for field in ["version", "homepage"] {
        assert!(
            !spec[field].as_str().unwrap().contains("${"),
            "{field} unfilled"
        );
    }

    // The archive holds the plugin binary (the one built), its licence and the README.
    let list = Cmd::program("tar").arg("-tzf").arg(archive).run().success();
    let mut names: Vec<&str> = list.stdout.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["LICENSE", "README.md", "kubectl-gitops-diff"]);
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    Cmd::program("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&unpacked)
        .run()
        .success();
    assert_eq!(
        std::fs::read(unpacked.join("kubectl-gitops-diff")).unwrap(),
        std::fs::read(harness::bin("kubectl-gitops-diff")).unwrap(),
        "the archive's binary is not the one built"
    );

    // krew installs it (checking the sha256) and kubectl finds and runs the plugin.
    let krew = harness::cluster::tool("krew");
    let kubectl = harness::cluster::tool("kubectl");
    if harness::skip_without(
        krew.is_some() && kubectl.is_some(),
        "the pinned krew and kubectl (make tools)",
    ) {
        return;
    }
    let (krew, kubectl) = (krew.unwrap(), kubectl.unwrap());
    // `kubectl krew` is krew found on PATH as the plugin kubectl-krew, as krew installs itself.
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::os::unix::fs::symlink(&krew, tools.join("kubectl-krew")).unwrap();
    let krew_root = dir.path().join("krew-root");
    let path = path_with_dirs(&[krew_root.join("bin"), tools]);
    let krew_cmd = || {
        Cmd::program(&kubectl)
            .env("PATH", &path)
            .env("KREW_ROOT", &krew_root)
            .env("KREW_NO_UPGRADE_CHECK", "1")
    };

    // A manifest whose sha256 is not the archive's is refused, and nothing is installed.
    let wrong = dir.path().join("wrong-sha.yaml");
    std::fs::write(
        &wrong,
        text.replace(
            &sha256_hex(archive),
            // The sha256 of nothing: well formed, and not the archive's.
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    )
    .unwrap();
    let refused = krew_cmd()
        .args(["krew", "install"])
        .arg(format!("--manifest={}", wrong.display()))
        .arg(format!("--archive={}", archive.display()))
        .run();
    assert_ne!(
        refused.code, 0,
        "krew took a wrong sha256: {}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("checksum does not match"),
        "{}",
        refused.stderr
    );
    assert!(!krew_root.join("bin/kubectl-gitops_diff").exists());

    krew_cmd()
        .args(["krew", "install"])
        .arg(format!("--manifest={}", manifest_path.display()))
        .arg(format!("--archive={}", archive.display()))
        .run()
        .success()
        .stderr_contains("Installed plugin: gitops-diff");
    let list = krew_cmd()
        .args(["plugin", "list", "--name-only"])
        .run()
        .success();
    assert!(
        list.stdout.lines().any(|l| l == "kubectl-gitops_diff"),
        "kubectl plugin list: {}{}",
        list.stdout,
        list.stderr
    );
    assert_eq!(
        std::fs::canonicalize(krew_root.join("bin/kubectl-gitops_diff")).unwrap(),
        std::fs::canonicalize(
            krew_root.join(format!("store/gitops-diff/v{version}/kubectl-gitops-diff"))
        )
        .unwrap()
    );
    krew_cmd()
        .args(["gitops-diff", "--version"])
        .run()
        .success()
        .stdout_is(&format!("kubectl-gitops-diff {version}\n"));
    krew_cmd()
        .args(["gitops-diff", "--help"])
        .run()
        .success()
        .stdout_contains("Usage: kubectl gitops diff");
}
