#!/usr/bin/env bash
# Installs Redis (three Redis Clusters, 3 masters + 3 replicas each as in a cloud cluster, so
# that every seed of the services' REDIS_URL exists, with small volumes) and ingress-nginx on
# minikube. Then: build or load the images and `kubectl apply -k k8s/` (k8s/README.md,
# "Kubernetes").
# shellcheck source=helm-config/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_redis --set persistence.size=1Gi
install_ingress -f "$HERE/ingress-nginx-values-minikube.yaml"
kubectl -n "$NAMESPACE" get pods
