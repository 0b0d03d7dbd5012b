# Multi-stage build: dependencies are compiled in their own cached layer, the runtime image is slim and
# runs as a non-root user. Build: docker build -t dunning .   Run: docker run -p 8080:8080 dunning
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# 1. Dependencies only: a dummy crate with the real manifest, so this layer is reused until
#    Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked --bin dunning \
    && rm -rf src target/release/.fingerprint/dunning-* target/release/deps/dunning-* target/release/deps/libdunning-*
# 2. The service itself.
COPY build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY fixtures ./fixtures
RUN cargo build --release --locked --bin dunning

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/dunning --create-home dunning
COPY --from=build /src/target/release/dunning /usr/local/bin/dunning
COPY --from=build /src/fixtures /usr/share/dunning/fixtures
USER dunning
WORKDIR /var/lib/dunning
ENV DUNNING_LISTEN=0.0.0.0:8080 \
    DUNNING_DATABASE_URL=sqlite:///var/lib/dunning/dunning.db \
    DUNNING_LOG_FORMAT=json
VOLUME ["/var/lib/dunning"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["dunning"]
CMD ["serve"]
