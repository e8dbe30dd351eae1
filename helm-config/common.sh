# shellcheck shell=bash
# Shared by deploy-charts-minikube.sh and deploy-charts-cluster.sh (sourced).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
NAMESPACE="${NAMESPACE:-wdm}"
# bitnami/redis-cluster 12.0.10 (Redis 8.0.2): helm-config/redis-cluster-values.yaml was rendered
# with `helm template` against this version.
REDIS_CLUSTER_CHART_VERSION="${REDIS_CLUSTER_CHART_VERSION:-12.0.10}"
INGRESS_CHART_VERSION="${INGRESS_CHART_VERSION:-4.12.3}"

for tool in helm kubectl; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

helm repo add bitnami https://charts.bitnami.com/bitnami >/dev/null 2>&1 || true
helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx >/dev/null 2>&1 || true
helm repo update >/dev/null

# One Redis Cluster per service: release redis-<svc>, named redis-<svc> (fullnameOverride), so
# its pods are redis-<svc>-0.. behind redis-<svc>-headless, which the services' REDIS_URL lists.
install_redis() {
    # The namespace and the password Secret first: the releases read existingSecret.
    kubectl apply -f "$REPO/k8s/namespace.yaml"
    kubectl apply -f "$REPO/k8s/secret.yaml"
    local svc
    for svc in order stock payment; do
        echo "== redis-$svc"
        helm upgrade --install "redis-$svc" bitnami/redis-cluster --version "$REDIS_CLUSTER_CHART_VERSION" \
            --namespace "$NAMESPACE" -f "$HERE/redis-cluster-values.yaml" \
            --set fullnameOverride="redis-$svc" "$@" --wait --timeout 10m
    done
}

install_ingress() {
    echo "== ingress-nginx"
    helm upgrade --install ingress-nginx ingress-nginx/ingress-nginx --version "$INGRESS_CHART_VERSION" \
        --namespace ingress-nginx --create-namespace -f "$HERE/ingress-nginx-values.yaml" "$@" --wait --timeout 10m
}
