//! `make install` as a platform engineer runs it: the five binaries, the kubectl plugin link,
//! man pages and completions land under PREFIX; the pinned kubectl finds the plugin, and git
//! finds `git promote` with its man page. Uses the debug build (`PROFILE=dev`) that
//! `make test` has already made, so no release build is needed here.

use std::path::Path;

use harness::Cmd;

const TOOLS: [&str; 5] = [
    "manifest-render",
    "image-tag",
    "git-promote",
    "sync-once",
    "kubectl-gitops-diff",
];

fn path_with(prefix: &Path) -> std::ffi::OsString {
    let mut paths = vec![prefix.join("bin")];
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
