//! `test-cluster`: starts the test control plane (etcd, kube-apiserver, controllers, kwok) for
//! the demo and the benchmarks, prints the admin kubeconfig's path on stdout and serves until it
//! is killed (Ctrl-C, SIGTERM); every process and the data directory go with it.
//!
//! `make cluster`, or `KUBECONFIG=$(test-cluster & …)` from a script: the first line of stdout
//! is written once the apiserver is ready.

use std::io::Write;

fn main() {
    let nodes = !std::env::args().any(|a| a == "--no-nodes");
    let cluster = harness::cluster::Cluster::start(harness::cluster::Options {
        controllers: true,
        nodes,
    });
    let mut out = std::io::stdout();
    // stdout is data: the one line a script reads. A closed stdout is no reason to stop.
    let _ = writeln!(out, "{}", cluster.kubeconfig().display());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}
