# syntax=docker/dockerfile:1
# tessera container image. Build: docker build -t tessera .   (BuildKit, the default)
# config/default.toml, migrations/ and the Lua scripts are compiled into the
# binary, so the runtime image only needs the binary itself.

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The crates.io registry and target/ live in BuildKit cache mounts, so a rebuild
# after a source change recompiles tessera only, not its dependencies. The
# binary is copied out because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release \
 && install -m 0755 target/release/tessera /usr/local/bin/tessera

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to SMTP/captcha/managed databases; curl: compose healthcheck.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin tessera \
 && mkdir -p /keys && chown tessera:tessera /keys
COPY --from=builder /usr/local/bin/tessera /usr/local/bin/tessera

USER tessera
WORKDIR /tmp
# Listen on all interfaces inside the container; signing keys in /keys (mount a
# volume there: docker-compose.yml does).
ENV TESSERA__SERVER__BIND=0.0.0.0:8000 \
    TESSERA__JWT__KEYS_DIR=/keys
EXPOSE 8000
ENTRYPOINT ["tessera"]
CMD ["serve"]
