#!/usr/bin/env python3
"""Generates the git-promote benchmark input.

gen.py repo DIR        a GitOps work tree: 3 environments x 50 apps, ~133 files per app
                       (~20,000 files) in clusters/ENV/APP/, plus templates/ENV/APP/.
gen.py stream FILE TAG the rendered manifests of one app: 200 objects as one YAML stream.
gen.py split DIR TAG   the same 200 objects, one file per object (what create-pr.sh copies).
"""
import os
import sys

ENVS = ["dev", "qa", "prod"]
APPS = 50
FILES_PER_APP = 130


def obj(app, i, tag):
    kind = ("ConfigMap", "Service", "Deployment")[i % 3]
    name = f"{app}-{i:03d}"
    if kind == "ConfigMap":
        body = f"data:\n  key: value-{i}\n  tag: {tag}\n"
        api = "v1"
    elif kind == "Service":
        body = f"spec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n    targetPort: {8000 + i}\n"
        api = "v1"
    else:
        body = (
            f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n"
            f"    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n"
            f"      - name: main\n        image: registry.example.com/{app}:{tag}\n"
        )
        api = "apps/v1"
    return kind, api, name, f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {app}\n{body}"


def file_name(kind, api, name, app):
    group_version = api.replace("/", ".")
    return f"{group_version}.{kind}.{app}.{name}.yaml"


def main():
    what = sys.argv[1]
    if what == "repo":
        root = sys.argv[2]
        for env in ENVS:
            for a in range(APPS):
                app = f"app-{a:02d}"
                d = os.path.join(root, "clusters", env, app)
                os.makedirs(d, exist_ok=True)
                for i in range(FILES_PER_APP):
                    kind, api, name, text = obj(app, i, "v0")
                    with open(os.path.join(d, file_name(kind, api, name, app)), "w") as f:
                        f.write(text)
                t = os.path.join(root, "templates", env, app)
                os.makedirs(t, exist_ok=True)
                with open(os.path.join(t, "kustomization.yaml"), "w") as f:
                    f.write("resources: [deploy.yaml]\n")
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write("# gitops benchmark repository\n")
    elif what == "stream":
        out, tag = sys.argv[2], sys.argv[3]
        with open(out, "w") as f:
            f.write("---\n".join(obj("app-07", i, tag)[3] for i in range(200)))
    elif what == "split":
        out, tag = sys.argv[2], sys.argv[3]
        os.makedirs(out, exist_ok=True)
        for i in range(200):
            kind, api, name, text = obj("app-07", i, tag)
            with open(os.path.join(out, file_name(kind, api, name, "app-07")), "w") as f:
                f.write(text)


main()
