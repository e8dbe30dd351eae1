#!/usr/bin/env bash
# Renders the three Redis Cluster releases with `helm template` from a local copy of the
# bitnami/redis-cluster chart (the version pinned in common.sh, with its `common` dependency in
# charts/), and checks what the values must produce:
#
#   - redis.conf (the chart's ConfigMap, ours appended) ends up with every setting of
#     redis-cluster-values.yaml's redis.configmap (the last occurrence of a directive wins);
#   - a StatefulSet redis-<svc> of cluster.nodes pods behind redis-<svc>-headless, whose
#     REDIS_NODES are exactly the seeds of k8s/<svc>.yaml's REDIS_URL, the password from the
#     Secret of k8s/secret.yaml, AOF on, a volume claim per pod.
#
#   helm-config/render-check.sh CHART_DIR     (k8s/validate.sh runs it when REDIS_CLUSTER_CHART
#                                             names such a directory)
#
# Nothing is fetched: the chart cannot be downloaded offline, so CI skips this check; the
# values were rendered this way against bitnami/redis-cluster 12.0.10. Needs helm and a
# python3 with PyYAML (HELM, PYTHON; k8s/validate.sh passes its venv's).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CHART="${1:?usage: $0 CHART_DIR}"
HELM="${HELM:-helm}"
PYTHON="${PYTHON:-python3}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

for svc in order stock payment; do
    "$HELM" template "redis-$svc" "$CHART" --namespace wdm -f "$HERE/redis-cluster-values.yaml" \
        --set fullnameOverride="redis-$svc" >"$OUT/$svc.yaml"
done
"$PYTHON" - "$REPO" "$OUT" <<'EOF'
import sys, yaml
repo, out = sys.argv[1], sys.argv[2]
values = yaml.safe_load(open(f"{repo}/helm-config/redis-cluster-values.yaml"))
wanted = [l.strip() for l in values["redis"]["configmap"].splitlines()
          if l.strip() and not l.strip().startswith("#")]
nodes = values["cluster"]["nodes"]
secret = next(d for d in yaml.safe_load_all(open(f"{repo}/k8s/secret.yaml")) if d)
problems = []
for svc in ("order", "stock", "payment"):
    docs = [d for d in yaml.safe_load_all(open(f"{out}/{svc}.yaml")) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    conf = by[("ConfigMap", f"redis-{svc}-default")]["data"]["redis-default.conf"]
    last = {}
    for line in conf.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            last[line.split()[0]] = line
    for w in wanted:
        if last.get(w.split()[0]) != w:
            problems.append(f"{svc}: redis.conf has {last.get(w.split()[0])!r}, not {w!r}")
    sts = by[("StatefulSet", f"redis-{svc}")]["spec"]
    if sts["replicas"] != nodes or sts["serviceName"] != f"redis-{svc}-headless":
        problems.append(f"{svc}: StatefulSet has {sts['replicas']} pods behind {sts['serviceName']}")
    if ("Service", f"redis-{svc}-headless") not in by:
        problems.append(f"{svc}: no headless Service redis-{svc}-headless")
    pod = sts["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    rendered = env["REDIS_NODES"]["value"].split()
    deployment = next(d for d in yaml.safe_load_all(open(f"{repo}/k8s/{svc}.yaml"))
                      if d and d["kind"] == "Deployment")
    denv = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    seeds = [s.split("@", 1)[1].split(".wdm.svc.cluster.local:6379")[0]
             for s in denv["REDIS_URL"]["value"].split(",")]
    if seeds != rendered:
        problems.append(f"{svc}: REDIS_URL seeds {seeds} != the chart's nodes {rendered}")
    if env["REDIS_AOF_ENABLED"]["value"] != "yes":
        problems.append(f"{svc}: AOF is off")
    vol = next(v for v in pod["volumes"] if v["name"] == "redis-password")["secret"]
    if vol["secretName"] != secret["metadata"]["name"] or vol["items"][0]["key"] not in secret["stringData"]:
        problems.append(f"{svc}: the password is not k8s/secret.yaml's: {vol}")
    if not sts.get("volumeClaimTemplates"):
        problems.append(f"{svc}: no volume claim per pod")
for p in problems:
    print("render-check:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"render-check: 3 releases of {nodes} nodes each render as the values and manifests say "
      f"({len(wanted)} redis.conf settings checked)")
EOF
