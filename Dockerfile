# syntax=docker/dockerfile:1
# Multi-stage build of the one logq binary (servers, dev cluster, CLI).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/logq ./cmd/logq

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/logq /usr/local/bin/logq
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/logq"]
