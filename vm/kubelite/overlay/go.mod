// This directory holds replacement files for `go build -overlay` (see
// ci/build-kubelite.sh). They are never built as a package of their own: this
// go.mod only keeps them out of the kubelite module (`go test ./...`, `go mod tidy`).
module kubestall.dev/kubelite-overlay

go 1.25.0
