# One image per service, parameterised by SERVICE (order | stock | payment).
#
#   docker build --build-arg SERVICE=order -t wdm-order .          (full build, needs the internet)
#   docker compose up --build                                        (builds all three)
#
# Stages, in this order on purpose (the classic builder runs every stage up to --target):
#   runtime-base  slim Debian with ca-certificates and curl (health check), non-root user
#   prebuilt      runtime-base + a binary built on the host; context = a folder holding
#                 bin/$SERVICE (env/compose/images.sh, no registry needed besides local bases)
#   deps          Rust toolchain; compiles the dependencies of all three services only (one
#                 layer shared by the three builds, cached until a manifest or Cargo.lock changes)
#   build         compiles the workspace sources
#   runtime       runtime-base + the binary from `build` (the default target)
#   redis-node    the Redis image + the ops binary from `build` (SERVICE=ops); the same
#                 with bin/ops of images.sh's context: redis-node-prebuilt (after prebuilt)
#
# Inside a container every service listens on 0.0.0.0:8080 (public) and 0.0.0.0:8081
# (internal saga endpoints, never routed by a gateway).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG REDIS_IMAGE=redis:7.0.15-bookworm

# checkov:skip=CKV_DOCKER_7:the tag comes from ARG RUNTIME_IMAGE, pinned to debian:bookworm-slim above
FROM ${RUNTIME_IMAGE} AS runtime-base
# Not pinned (DL3008): bookworm's ca-certificates and curl only get security updates, and an
# exact pin would break the build at the next one.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
ENV LISTEN_ADDR=0.0.0.0:8080 \
    INTERNAL_LISTEN_ADDR=0.0.0.0:8081 \
    RUST_LOG=info \
    LOG_FORMAT=json
EXPOSE 8080 8081
# /health/ready pings the service's Redis. (The participants also answer it on the internal
# port; the order service serves no internal endpoint, so only the public one is checked.)
# Shell form on purpose (DL3025): the ports come from the environment at run time.
# hadolint ignore=DL3025
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 \
    CMD curl -fsS -m 2 -o /dev/null "http://127.0.0.1:${LISTEN_ADDR##*:}/health/ready" || exit 1
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/service"]

FROM runtime-base AS prebuilt
ARG SERVICE=order
# The binary is bin/$SERVICE of the build context that env/compose/images.sh makes. The
# classic builder (no BuildKit) runs this stage even for the default target, from the
# repository, where there is no bin/: the pattern bi[n] may match nothing and Cargo.toml (in
# both contexts) keeps the COPY valid.
COPY Cargo.toml bi[n] /opt/wdm/
USER 0
RUN ln -s "/opt/wdm/${SERVICE}" /usr/local/bin/service
USER 10001:10001
LABEL org.opencontainers.image.title="wdm-${SERVICE}"

# The compose Redis nodes: ops checks a node's health and creates the clusters (bin/ops of
# images.sh's context, as in prebuilt).
# checkov:skip=CKV_DOCKER_2:docker-compose.yml defines the health check (ops cluster check-node)
# checkov:skip=CKV_DOCKER_3:the Redis image's entrypoint drops to user redis
FROM ${REDIS_IMAGE} AS redis-node-prebuilt
COPY Cargo.toml bi[n] /opt/wdm/
RUN ln -s /opt/wdm/ops /usr/local/bin/ops

FROM ${RUST_IMAGE} AS deps
WORKDIR /src
# The image gets no debug info (the workspace profile keeps some for the host's profilers).
ENV CARGO_PROFILE_RELEASE_DEBUG=0
# Manifests only, with stub sources: this layer holds the compiled dependencies of all three
# services (no SERVICE argument yet, so the three image builds share it) and is rebuilt only
# when a manifest or the lock file changes.
COPY Cargo.toml Cargo.lock ./
COPY common/Cargo.toml common/
COPY stock/Cargo.toml stock/
COPY payment/Cargo.toml payment/
COPY order/Cargo.toml order/
COPY api-doc/Cargo.toml api-doc/
COPY consistency-test/Cargo.toml consistency-test/
COPY k8s/Cargo.toml k8s/
COPY ops/Cargo.toml ops/
RUN for d in common stock payment order api-doc consistency-test k8s ops; do \
        mkdir -p "$d/src" && touch "$d/src/lib.rs" && echo 'fn main() {}' > "$d/src/main.rs"; \
    done \
    && cargo build --release --locked -p order -p stock -p payment \
    && rm -rf common/src stock/src payment/src order/src api-doc/src consistency-test/src k8s/src ops/src

FROM deps AS build
ARG SERVICE=order
# The sources, with order/openapi.json (the API document the order binary embeds).
COPY . .
# Newer mtimes than the stubs', so cargo rebuilds the workspace crates.
RUN find common stock payment order api-doc consistency-test k8s ops -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p "${SERVICE}" --bin "${SERVICE}" \
    && cp "target/release/${SERVICE}" /service

FROM runtime-base AS runtime
ARG SERVICE=order
COPY --from=build /service /usr/local/bin/service
LABEL org.opencontainers.image.title="wdm-${SERVICE}"

FROM ${REDIS_IMAGE} AS redis-node
COPY --from=build /service /usr/local/bin/ops
