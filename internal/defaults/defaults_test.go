package defaults

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	var c struct {
		Addr    string
		Timeout time.Duration
		Conns   int32
	}
	c.Conns = 4
	Set(&c.Addr, "127.0.0.1:1")
	Set(&c.Timeout, time.Second)
	Set(&c.Conns, 32)
	if c.Addr != "127.0.0.1:1" || c.Timeout != time.Second || c.Conns != 4 {
		t.Fatalf("got %+v", c)
	}
}
