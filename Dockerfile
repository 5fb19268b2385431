# s3-replicator: build in a full Rust image, run in a slim Debian with the binary alone.
#
#   docker build -t s3-replicator .
#   docker run --rm -e S3R_CONFIG_TOML="$(cat config/example.toml)" s3-replicator check-config
#
# The runtime image has no shell tools for health checks: `s3-replicator healthcheck` asks the
# daemon's own /healthz. It runs as an unprivileged user (65532) and needs no writable file
# system, so the ECS task sets readonlyRootFilesystem.

# The toolchain CI builds with; the SDK's minimum Rust version moves up with its releases.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: a change to src/ does not rebuild them. The
# workspace's other member (bench/) is needed as a manifest only: an empty placeholder.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/
RUN mkdir -p src/bin bench/src \
    && echo 'fn main() {}' > src/bin/s3-replicator.rs \
    && touch src/lib.rs bench/src/lib.rs \
    && cargo build --release --locked --bin s3-replicator \
    && rm -rf src

COPY src ./src
# Newer than the placeholder build, so cargo rebuilds the crate itself.
RUN touch src/lib.rs src/bin/s3-replicator.rs \
    && cargo build --release --locked --bin s3-replicator \
    && strip target/release/s3-replicator

FROM debian:bookworm-slim

# CA certificates for TLS to the AWS APIs; nothing else. Versions float with the Debian point
# release, which carries security fixes (pinning them would block those).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 replicator \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin replicator

COPY --from=build /src/target/release/s3-replicator /usr/local/bin/s3-replicator

USER 65532:65532
# /healthz, /readyz, /metrics (server.listen).
EXPOSE 9090
ENV S3R_LOG__FORMAT=json \
    S3R_SERVER__LISTEN=0.0.0.0:9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/s3-replicator", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/s3-replicator"]
CMD ["run"]
