# syntax=docker/dockerfile:1
#
# The counter image: one static binary, every role (dev, broker, worker, api,
# audit) chosen by the command. Build from the repository root:
#
#   docker build -t counter .
#   docker run --rm -p 3000:3000 -v counter-data:/data counter          # counter dev
#   docker run --rm counter worker --brokers kafka:9092 --id w1 ...      # one role
#
# CI does not build this image (no container engine there); it checks that the
# ENTRYPOINT/CMD and ENV below parse with counter's own flag parser
# (cmd/counter/deploy_test.go).

ARG GO_VERSION=1.26
ARG NODE_VERSION=22

# 1. The web page, when the repository has one (web/package.json): what
#    `make web` does, npm ci and the Vite build, which writes the bundle into
#    the Go package that embeds it. Without web/ this stage only carries the
#    sources on.
FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /src
COPY . .
RUN if [ -f web/package.json ]; then \
      cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build && rm -rf node_modules; \
    else \
      echo "no web/package.json: building without a web bundle"; \
    fi

# 2. The static binary.
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY --from=web /src .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/counter ./cmd/counter \
    && mkdir -p /out/data

# 3. The runtime: Alpine for its busybox wget (the compose health checks use
#    it), a non-root user, the data under /data.
FROM alpine:3.22
RUN addgroup -S -g 10001 counter && adduser -S -D -H -u 10001 -G counter counter
COPY --from=build /out/counter /usr/local/bin/counter
COPY --from=build --chown=10001:10001 /out/data /data
USER 10001:10001
# The working directory makes every default data path land in /data:
# ./data (dev), ./data/broker (broker), ./data/worker-<id> (worker).
WORKDIR /
VOLUME ["/data"]
ENV COUNTER_LOG_FORMAT=json
# 3000: the HTTP API (--http-addr); 9101: the worker's /metrics, /healthz and
# /readyz when started with --metrics-addr :9101; 9094: the embedded broker
# (dev, broker), which listens on the container's 127.0.0.1 only.
EXPOSE 3000 9101 9094
ENTRYPOINT ["counter"]
CMD ["dev"]
