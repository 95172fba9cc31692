# Helixflow's image: built in one stage, run from a slim one.
#   docker build -t helixflow .
# docker-compose.bigdata.yml builds it for its two cluster processes.

# --- build: the release binary (the toolchain the project is tested with)
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin helixflow \
 && cp target/release/helixflow /usr/local/bin/helixflow

# --- run: the binary, CA certificates, curl for health checks, no toolchain
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/helixflow --create-home helixflow
COPY --from=build /usr/local/bin/helixflow /usr/local/bin/helixflow
COPY deploy/helixflow/cluster.toml /etc/helixflow/cluster.toml
USER helixflow
WORKDIR /var/lib/helixflow
# 8080: the API and /metrics; 2101: timely's connections between processes.
EXPOSE 8080 2101
ENTRYPOINT ["helixflow"]
CMD ["run", "/etc/helixflow/cluster.toml"]
