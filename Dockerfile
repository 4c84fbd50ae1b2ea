# syntax=docker/dockerfile:1
# Multi-stage build of the one logq binary (servers, dev cluster, CLI):
# a static binary (CGO_ENABLED=0) on distroless/static, run as non-root.
# docs/deploy.md shows how to run it; cmd/logq's TestDockerfile checks it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/logq ./cmd/logq

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/logq /usr/local/bin/logq
USER nonroot:nonroot
# Managers listen on 8080 and brokers on 9000 in docker-compose.yml.
EXPOSE 8080 9000
ENTRYPOINT ["/usr/local/bin/logq"]
CMD ["--help"]
