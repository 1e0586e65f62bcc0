//! A real OCI registry (Debian's docker-registry, CNCF distribution 2.8) started on 127.0.0.1 with a free port and filesystem storage in a temp dir, and stopped on drop.
