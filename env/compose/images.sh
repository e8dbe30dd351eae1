#!/usr/bin/env bash
# Makes every image docker-compose.yml needs, without a registry:
#
#   1. debian:bookworm-slim    debootstrap --variant=minbase of Debian bookworm, `docker import`ed
#                              (the rootfs tarball is cached: a second run skips debootstrap)
#   2. redis:7.0.15-bookworm   stand-in for the official image (Debian's redis 7.0.15),
#                              env/compose/images/redis.Dockerfile
#   3. wdm-gateway:latest      the gateway, env/compose/images/gateway.Dockerfile (Debian's
#                              nginx-light 1.22.1 with the echo module), as compose builds it
#   4. wdm-{order,stock,payment}:latest
#                              ./Dockerfile's `prebuilt` stage (the same runtime stage as the
#                              full build) around binaries built here with cargo
#   5. wdm-redis-node:latest   image 2 with the ops binary built here (./Dockerfile's
#                              `redis-node-prebuilt` stage): the compose Redis nodes
#
# Images 1 and 2 are kept when they exist (REBUILD_BASE=1 rebuilds them); the gateway and the
# service images are always rebuilt (cheap: docker's layer cache keeps what did not change).
#
# Environment: IMAGES_CACHE (~/.cache/wdm-images), DEBIAN_MIRROR (http://deb.debian.org/debian),
# SKIP_CARGO=1 (use the binaries already in target/release), CARGO_TARGET_DIR, BUILD_NETWORK
# (docker build --network; default host, so apt inside builds uses the host's route).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${IMAGES_CACHE:-$HOME/.cache/wdm-images}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"
# shellcheck source=env/target-dir.sh
. "$REPO/env/target-dir.sh"
BASE_TAG=debian:bookworm-slim
REDIS_TAG=redis:7.0.15-bookworm
GATEWAY_TAG=wdm-gateway:latest
NODE_TAG=wdm-redis-node:latest
SERVICES=(order stock payment)
# The classic builder (no buildx here); it runs the Dockerfile's stages up to --target only.
export DOCKER_BUILDKIT=0

log() { printf '[images %s] %s\n' "$(date +%T)" "$*" >&2; }

# Images that a rebuild took a tag from: removed at the end, newest first (children before
# the base they were built on), unless still tagged or used (docker refuses, which is fine),
# so that no dangling images pile up.
REPLACED=()
drop_replaced() {
    local old="$1" tag="$2"
    [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$tag")" ] || return 0
    REPLACED=("$old" "${REPLACED[@]}")
}

# docker build, showing its steps as progress; the whole output in $CACHE/build-<tag>.log.
build() {
    local tag="$1" logf old
    old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
    shift
    logf="$CACHE/build-${tag//[:\/]/_}.log"
    if ! timeout 900 docker build --network "$BUILD_NETWORK" -t "$tag" "$@" 2>&1 | tee "$logf" |
        { grep --line-buffered -E '^Step [0-9]+/[0-9]+ : ' | sed -u -E 's/^(.{0,110}).*/    \1/' >&2 || true; }; then
        log "docker build of $tag failed, see $logf"
        tail -n 30 "$logf" >&2
        exit 1
    fi
    drop_replaced "$old" "$tag"
}
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || { log "docker not found"; exit 1; }
docker version --format '{{.Server.Version}}' >/dev/null || { log "the Docker Engine does not answer"; exit 1; }
mkdir -p "$CACHE"

base_image() {
    if have_image "$BASE_TAG" && [ -z "${REBUILD_BASE:-}" ]; then
        log "$BASE_TAG exists"
        return
    fi
    local tarball="$CACHE/bookworm-minbase.tar"
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null || {
            if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
                apt-get install -y debootstrap >/dev/null
            else
                log "debootstrap missing: apt-get install debootstrap"; exit 1
            fi
        }
        local root="$CACHE/rootfs.tmp"
        rm -rf "$root"
        log "debootstrap bookworm (minbase) from $MIRROR"
        # Its phases as progress (not one line per package); the whole output in the log.
        timeout 900 debootstrap --variant=minbase bookworm "$root" "$MIRROR" 2>&1 |
            tee "$CACHE/debootstrap.log" |
            grep --line-buffered -vE '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]' |
            sed -u 's/^/    /' >&2 || {
            log "debootstrap failed, see $CACHE/debootstrap.log"; tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1
        }
        # What debian:*-slim images drop: apt lists, caches, docs and man pages.
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
            "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
        printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
            "$MIRROR" "$MIRROR" >"$root/etc/apt/sources.list"
        tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
    else
        log "using cached $tarball"
    fi
    local old
    old="$(docker image inspect -f '{{.Id}}' "$BASE_TAG" 2>/dev/null || true)"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        "$tarball" "$BASE_TAG" >/dev/null
    drop_replaced "$old" "$BASE_TAG"
    log "imported $BASE_TAG"
}

standin_image() {
    local tag="$1" file="$2"
    if have_image "$tag" && [ -z "${REBUILD_BASE:-}" ]; then
        log "$tag exists"
        return
    fi
    log "building stand-in $tag"
    build "$tag" -f "$REPO/env/compose/images/$file" "$REPO/env/compose/images"
}

service_images() {
    if [ -z "${SKIP_CARGO:-}" ]; then
        log "cargo build --release --bins"
        (cd "$REPO" && cargo build --release --bins)
    fi
    local svc ctx target tag
    for svc in "${SERVICES[@]}" ops; do
        [ -x "$TARGET_DIR/release/$svc" ] || { log "missing $TARGET_DIR/release/$svc"; exit 1; }
        ctx="$CACHE/context-$svc"
        rm -rf "$ctx" && mkdir -p "$ctx/bin"
        # (The Dockerfile's prebuilt stage also copies Cargo.toml, see there.)
        cp "$REPO/Cargo.toml" "$ctx/"
        # Debug info stays on the host; the image gets the stripped binary.
        if command -v objcopy >/dev/null; then
            objcopy --strip-debug "$TARGET_DIR/release/$svc" "$ctx/bin/$svc"
        else
            cp "$TARGET_DIR/release/$svc" "$ctx/bin/$svc"
        fi
        target=prebuilt tag="wdm-$svc:latest"
        [ "$svc" != ops ] || target=redis-node-prebuilt tag="$NODE_TAG"
        log "building $tag (Dockerfile --target $target)"
        build "$tag" --target "$target" --build-arg SERVICE="$svc" -f "$REPO/Dockerfile" "$ctx"
    done
}

start=$SECONDS
base_image
standin_image "$REDIS_TAG" redis.Dockerfile
log "building $GATEWAY_TAG"
build "$GATEWAY_TAG" -f "$REPO/env/compose/images/gateway.Dockerfile" "$REPO/env/compose/images"
service_images
for old in "${REPLACED[@]}"; do docker rmi "$old" >/dev/null 2>&1 || true; done
log "done in $((SECONDS - start))s: $BASE_TAG $REDIS_TAG $GATEWAY_TAG $(printf 'wdm-%s:latest ' "${SERVICES[@]}")$NODE_TAG"
