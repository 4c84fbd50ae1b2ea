package faulttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// logqBin is the logq binary every test runs its servers from, built once
// by TestMain.
var logqBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "logq-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	logqBin = filepath.Join(dir, "logq")
	if err := build(logqBin); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// build runs `go build -o out ./cmd/logq` (go test puts GOROOT/bin first on
// PATH, so "go" is the toolchain running the tests).
func build(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/logq")
	cmd.Dir = filepath.Join("..", "..", "..") // the module root, from internal/harness/faulttest
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/logq: %w\n%s", err, b)
	}
	return nil
}
