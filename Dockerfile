# syntax=docker/dockerfile:1
#
# podint's image: podintd, podintctl, podint-install and podint-collector on PATH, and the podint
# CNI plugin at /opt/podint/bin/podint, where podint-install copies it from
# into the host's CNI bin dir.
#
# The build needs only Go: the BPF objects (bpf2go) and the gRPC code are
# generated ahead and committed, so there is no clang, protoc or go generate
# here. Build from the repository root:
#   docker build -t ghcr.io/podint/podint:dev .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binaries: the plugin runs on the host, whatever its libc, and the
# runtime image has none.
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/ \
        ./plugin/cmd/podint \
        ./daemon/cmd/podintd \
        ./cli/cmd/podintctl \
        ./install/cmd/podint-install \
        ./collector/cmd/podint-collector

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell or
# package manager. It runs as root: podintd loads BPF programs and
# podint-install writes the host's CNI directories.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/podintd /out/podintctl /out/podint-install /out/podint-collector /usr/local/bin/
COPY --from=build /out/podint /opt/podint/bin/podint
LABEL org.opencontainers.image.title="podint" \
      org.opencontainers.image.description="In-band Network Telemetry for Kubernetes pods, from the host" \
      org.opencontainers.image.source="https://github.com/podint/podint"
ENTRYPOINT ["/usr/local/bin/podintd"]
