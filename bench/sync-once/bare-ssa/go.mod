module gitops-toolkit/bench/sync-once/bare-ssa

go 1.26
