# The Sluice server in a container: a static binary on distroless, run as a
# non-root user, with the data directory on a volume.
#
#   docker build -t sluice --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -p 4567:4567 -v sluice-data:/data sluice
#
# Inside the container the server listens on 0.0.0.0:4567 (the plain API
# and /metrics; SLUICE_ADDR changes it) and keeps its store in /data
# (SLUICE_DATA_DIR). Every flag of `sluice serve` can be given as an
# argument after the image name or as a SLUICE_* environment variable;
# README.md ("Running in a container") says which are needed to listen
# beyond loopback.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version `sluice version` reports when the build has no VCS
# information (the build context leaves .git out).
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.linkVersion=${VERSION}" -o /out/sluice ./cmd/sluice \
	&& /out/sluice version \
	&& mkdir -p /out/data

# distroless/static: CA certificates (for a TLS NATS cluster), tzdata, and
# the user nonroot (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SLUICE_ADDR=0.0.0.0:4567 \
	SLUICE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 4567
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
