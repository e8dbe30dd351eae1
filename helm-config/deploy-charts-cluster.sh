#!/usr/bin/env bash
# Installs Redis (three Redis Clusters of 3 masters with 2 replicas each, persistent volumes)
# and ingress-nginx (LoadBalancer service) on the current kubectl context. Then push the images
# to your registry, point k8s/kustomization.yaml's `images:` at them and `kubectl apply -k k8s/`.
# shellcheck source=helm-config/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# No extra helm flags here (the minikube script passes some).
# shellcheck disable=SC2119
install_redis
# shellcheck disable=SC2119
install_ingress
kubectl -n "$NAMESPACE" get pods
kubectl -n ingress-nginx get svc ingress-nginx-controller
