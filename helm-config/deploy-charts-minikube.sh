#!/usr/bin/env bash
# Installs Redis (three Redis Clusters, 3 masters with 2 replicas each as in a cloud cluster, so
# that every seed of the services' REDIS_URL exists, with small volumes) and ingress-nginx on
# minikube. Then: build or load the images and `kubectl apply -k k8s/` (k8s/README.md,
# "Kubernetes").
# shellcheck source=helm-config/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# Smaller requests than a cloud node gets (redis-cluster-values.yaml: 100m, 256Mi): 27 Redis
# pods at those would ask for 2.7 CPUs and 6.75 GiB, which with the services' pods and the
# control plane does not fit on `minikube start --cpus 4 --memory 8g` (k8s/README.md). At 25m
# and 64Mi they ask for 0.68 CPU and 1.7 GiB; the limits stay.
install_redis --set persistence.size=1Gi \
    --set redis.resources.requests.cpu=25m --set redis.resources.requests.memory=64Mi
install_ingress -f "$HERE/ingress-nginx-values-minikube.yaml"
kubectl -n "$NAMESPACE" get pods
