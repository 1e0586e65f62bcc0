//! `kube-testserver`: runs the test API server until killed, writing a kubeconfig once ready.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// A Kubernetes API server for tests (discovery, CRUD, server-side apply, dry-run, simulator).
#[derive(Debug, Parser)]
#[command(name = "kube-testserver", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    /// Where to write the kubeconfig (context `testserver`) once the server is ready.
    #[arg(long)]
    kubeconfig: std::path::PathBuf,
    /// Serve plain HTTP instead of HTTPS with a generated CA.
    #[arg(long)]
    http: bool,
    /// Do not simulate workload status (Deployments etc. never become ready).
    #[arg(long)]
    no_simulator: bool,
    /// How long simulated workloads take to become ready after a change (e.g. 2s, 500ms).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ready_after: Duration,
    /// Bearer token to require (default: random, written into the kubeconfig).
    #[arg(long)]
    token: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 2s, 500ms, 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?}: use ms, s or m")),
    }
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = Args::parse();
    let opts = kube_testserver::Options {
        addr: Some(args.addr),
        tls: !args.http,
        token: args.token,
        simulator: !args.no_simulator,
        ready_after: args.ready_after,
    };
    let srv = match kube_testserver::TestServer::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kube-testserver: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = srv.write_kubeconfig(&args.kubeconfig) {
        eprintln!(
            "kube-testserver: error: writing {}: {e}",
            args.kubeconfig.display()
        );
        return ExitCode::from(2);
    }
    eprintln!(
        "kube-testserver: serving {} (kubeconfig {})",
        srv.url(),
        args.kubeconfig.display()
    );
    loop {
        std::thread::park();
    }
}
