# Miroir from a clean checkout: `docker build -t miroir .`
# Build stage: the release binary, with the lock file as committed.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p miroir

# Run stage: the binary alone, as an unprivileged user, its state under /data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data miroir \
 && mkdir -p /data \
 && chown miroir /data
COPY --from=build /src/target/release/miroir /usr/local/bin/miroir
USER miroir
ENV MIROIR_HTTP_ADDR=0.0.0.0:7700 \
    MIROIR_DB_PATH=/data/miroir
VOLUME /data
EXPOSE 7700
ENTRYPOINT ["miroir"]
CMD ["serve"]
