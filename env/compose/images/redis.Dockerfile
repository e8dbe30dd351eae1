# Local stand-in for the official redis:7.0.15-bookworm image (no registry here), built by
# env/compose/images.sh from a debootstrapped Debian bookworm. Same interface as the official
# image: redis-server and redis-cli on PATH, user redis (uid/gid 999), WORKDIR and VOLUME /data,
# port 6379, an entrypoint that starts as root, fixes /data ownership and drops to redis.
# Same as the official image it stands in for (explained checkov exceptions):
# checkov:skip=CKV_DOCKER_2:no HEALTHCHECK in the official image; docker-compose.yml defines one
# checkov:skip=CKV_DOCKER_3:starts as root and drops to user redis in its entrypoint, like the official image
FROM debian:bookworm-slim
RUN groupadd --system --gid 999 redis \
    && useradd --system --uid 999 --gid redis --home-dir /var/lib/redis --shell /usr/sbin/nologin redis \
    && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends 'redis-server=5:7.0.15-*' 'redis-tools=5:7.0.15-*' \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
