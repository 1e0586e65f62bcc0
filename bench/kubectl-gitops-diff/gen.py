#!/usr/bin/env python3
"""Generators for the kubectl-gitops-diff benchmark.

usage: gen.py live DIR NAMESPACE N       writes DIR/base.yaml (N objects) and DIR/desired.yaml
                                         (every 10th object changed)
       gen.py repo DIR ENVS APPS         writes a GitOps repository: apps/<app>/base and
                                         envs/<env>/<app>/kustomization.yaml (one kustomization
                                         per app and environment, as Flux Kustomizations use)
"""
import os
import sys


def live(out, ns, n):
    base, desired = [], []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            doc = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {ns}\n"
                   "  labels:\n    app: bench\ndata:\n  index: \"{i}\"\n  value: \"{v}\"\n")
        elif kind < 9:
            doc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\n"
                   "spec:\n  selector:\n    app: a{i}\n  ports:\n  - port: {v}\n")
        else:
            doc = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  namespace: {ns}\n"
                   "stringData:\n  password: \"pw-{i}-{v}\"\n")
        base.append(doc.format(i=i, ns=ns, v=80))
        # 10 % changed, spread over every kind.
        desired.append(doc.format(i=i, ns=ns, v=81 if i % 10 == (i // 10) % 10 else 80))
    with open(os.path.join(out, "base.yaml"), "w") as f:
        f.write("---\n".join(base))
    with open(os.path.join(out, "desired.yaml"), "w") as f:
        f.write("---\n".join(desired))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def repo(out, envs, apps):
    for a in range(apps):
        app = f"app{a}"
        write(f"{out}/apps/{app}/base/kustomization.yaml",
              "resources:\n- deployment.yaml\n- service.yaml\n- config.yaml\n")
        write(f"{out}/apps/{app}/base/deployment.yaml",
              f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n"
              f"  replicas: 1\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n"
              f"    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n"
              f"      - name: app\n        image: registry.example.com/{app}:1.0.0\n"
              f"        ports:\n        - containerPort: 8080\n        envFrom:\n"
              f"        - configMapRef:\n            name: {app}-config\n")
        write(f"{out}/apps/{app}/base/service.yaml",
              f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  selector:\n"
              f"    app: {app}\n  ports:\n  - port: 80\n    targetPort: 8080\n")
        write(f"{out}/apps/{app}/base/config.yaml",
              f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\ndata:\n"
              f"  LOG_LEVEL: info\n  FEATURE_X: \"false\"\n")
        for e in range(envs):
            env = f"env{e}"
            write(f"{out}/envs/{env}/{app}/kustomization.yaml",
                  f"namespace: {env}\nresources:\n- ../../../apps/{app}/base\n"
                  f"labels:\n- pairs:\n    env: {env}\n  includeSelectors: false\n"
                  f"images:\n- name: registry.example.com/{app}\n  newTag: 1.0.0\n"
                  f"patches:\n- path: replicas.yaml\n")
            write(f"{out}/envs/{env}/{app}/replicas.yaml",
                  f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n"
                  f"spec:\n  replicas: {e + 1}\n")


if __name__ == "__main__":
    if sys.argv[1] == "live":
        live(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        repo(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
