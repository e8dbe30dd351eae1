#!/usr/bin/env bash
# Installs Redis (three releases) and ingress-nginx on minikube, with smaller Redis releases
# (no replica, small volumes). Then: build or load the images and `kubectl apply -k k8s/`
# (README.md, "Kubernetes").
# shellcheck source=helm-config/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_redis --set replica.replicaCount=0 --set master.persistence.size=1Gi
install_ingress -f "$HERE/ingress-nginx-values-minikube.yaml"
kubectl -n "$NAMESPACE" get pods
