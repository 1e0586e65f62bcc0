//! `kubectl-gitops-diff` (`kubectl gitops diff`): see the library for what it does.
fn main() -> std::process::ExitCode {
    gitops::cli::main_with_io("kubectl-gitops-diff", kubectl_gitops_diff::run)
}
