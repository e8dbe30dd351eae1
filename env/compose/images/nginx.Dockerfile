# Local stand-in for the official nginx:1.22.1 image (no registry here), built by
# env/compose/images.sh from a debootstrapped Debian bookworm (Debian's nginx 1.22.1).
# Same interface as the official image: nginx on PATH, /etc/nginx/nginx.conf including
# /etc/nginx/conf.d/*.conf, user nginx (uid/gid 101), logs to stdout/stderr, port 80,
# SIGQUIT to stop, `nginx -g 'daemon off;'` as the command.
# Same as the official image it stands in for (explained checkov exceptions):
# checkov:skip=CKV_DOCKER_2:no HEALTHCHECK in the official image; docker-compose.yml defines one
# checkov:skip=CKV_DOCKER_3:the master runs as root (port binding, config) and the workers as user nginx, like the official image
FROM debian:bookworm-slim
RUN groupadd --system --gid 101 nginx \
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --shell /usr/sbin/nologin nginx \
    && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends 'nginx-light=1.22.1-*' \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/nginx/sites-enabled /etc/nginx/sites-available \
    && mkdir -p /etc/nginx/conf.d /var/cache/nginx /usr/share/nginx/html \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-default.conf /etc/nginx/nginx.conf
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
