# The compose gateway's image, wdm-gateway (docker-compose.yml builds it; env/compose/images.sh
# too, without a registry): Debian bookworm's nginx-light 1.22.1 with the echo module
# (libnginx-mod-http-echo, which nginx-light depends on), whose echo_sleep makes the pauses
# between the gateway's retry passes (env/nginx/routes.conf). The official nginx image has
# no echo module, hence an image of our own. The configuration is not in the image:
# docker-compose.yml mounts env/nginx/gateway-compose.conf as /etc/nginx/nginx.conf (it
# loads the module) with routes.conf and upstreams-compose.conf next to it.
# Otherwise the interface of the official image: nginx on PATH, user nginx (uid/gid 101),
# logs to stdout/stderr, SIGQUIT to stop, `nginx -g 'daemon off;'` as the command; bash for
# the health check.
# Explained checkov exceptions:
# checkov:skip=CKV_DOCKER_2:no HEALTHCHECK in the image; docker-compose.yml defines one
# checkov:skip=CKV_DOCKER_3:the master runs as root (port binding, config) and the workers as user nginx, as in the official nginx image
FROM debian:bookworm-slim
RUN groupadd --system --gid 101 nginx \
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --shell /usr/sbin/nologin nginx \
    && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        'nginx-light=1.22.1-*' 'libnginx-mod-http-echo=1:0.63-*' \
    && test -f /usr/lib/nginx/modules/ngx_http_echo_module.so \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/nginx/sites-enabled /etc/nginx/sites-available \
    && mkdir -p /etc/nginx/conf.d /var/cache/nginx /usr/share/nginx/html \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-default.conf /etc/nginx/nginx.conf
EXPOSE 8000
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
