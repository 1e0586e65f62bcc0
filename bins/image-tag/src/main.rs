fn main() -> std::process::ExitCode {
    gitops::cli::main_with_io("image-tag", image_tag::run)
}
