# Keyward in a container: built with the Rust toolchain, run on slim Debian
# holding nothing but the binary, as an unprivileged user, data in /data.
#
#   docker build -t keyward .
#   docker run -d --name keyward -p 127.0.0.1:8420:8420 -v keyward-data:/data keyward
#   docker exec keyward cat /data/admin-token      # the first admin token
#
# With PostgreSQL: deploy/compose.yaml. Settings are KEYWARD_* variables
# (README, "Configuration"); docs/operations.md, "Container", has the rest.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# --locked: exactly the dependency versions of Cargo.lock, as in CI.
RUN cargo build --release --locked -p keyward \
    && install -m 0755 target/release/keyward /usr/local/bin/keyward

FROM debian:bookworm-slim
# A fixed numeric id, so volumes keep their owner across rebuilds and
# orchestrators can check runAsNonRoot.
RUN groupadd --system --gid 10001 keyward \
    && useradd --system --uid 10001 --gid keyward --home-dir /data --no-create-home --shell /usr/sbin/nologin keyward \
    && install -d -m 0700 -o keyward -g keyward /data
COPY --from=build /usr/local/bin/keyward /usr/local/bin/keyward
USER 10001:10001
ENV KEYWARD_LISTEN=0.0.0.0:8420 \
    KEYWARD_DATA_DIR=/data \
    KEYWARD_ADMIN_TOKEN_FILE=/data/admin-token
VOLUME ["/data"]
EXPOSE 8420
# `keyward ready` asks /readyz (the store reads and commits a write); no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["keyward", "ready", "--addr", "http://127.0.0.1:8420", "--timeout", "4s"]
ENTRYPOINT ["keyward"]
CMD ["serve"]
