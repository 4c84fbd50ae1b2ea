package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq/client"
)

// The driver process: with Config.DriverCommand, the Go client of the
// throughput and scaling figures runs in a process of its own, which the
// benchmark starts with that command. It speaks JSON lines on its standard
// input and output: a hello (the managers' URLs, the message size), then
// one request and one reply at a time, until its input ends. Drive is that
// process's side.

// driveHello is the first line the driver reads.
type driveHello struct {
	Managers    []string `json:"managers"`
	MessageSize int      `json:"message_size"`
}

// driveRequest is one job for the driver.
type driveRequest struct {
	Op         string `json:"op"` // produce_batched, producers, each, consumers, consume, close
	ID         int    `json:"id,omitempty"`
	Topic      string `json:"topic,omitempty"`
	N          int    `json:"n,omitempty"`
	Partitions int    `json:"partitions,omitempty"`
	Direct     bool   `json:"direct,omitempty"`
	Wants      []int  `json:"wants,omitempty"`
	Until      int64  `json:"until_unix_ns,omitempty"`
}

// driveReply is the driver's answer to a request.
type driveReply struct {
	Error      string  `json:"error,omitempty"`
	DurationNS int64   `json:"duration_ns,omitempty"`
	Acked      []int64 `json:"acked,omitempty"`
	Latencies  []int64 `json:"latencies_ns,omitempty"`
}

// Drive is the driver process: it reads the hello and then requests from
// in, runs each with a Go client of the managers and writes its reply to
// out, until in ends. `logq bench --drive` calls it.
func Drive(ctx context.Context, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	var hello driveHello
	if err := dec.Decode(&hello); err != nil {
		return fmt.Errorf("drive: hello: %w", err)
	}
	c, err := client.New(client.Config{Managers: hello.Managers})
	if err != nil {
		return fmt.Errorf("drive: %w", err)
	}
	defer c.Close()
	producers := map[int][]*client.Producer{}
	consumers := map[int][]*client.Consumer{}
	defer func() {
		for _, ps := range producers {
			closeAll(ps)
		}
		for _, cs := range consumers {
			closeAll(cs)
		}
	}()
	for {
		var req driveRequest
		if err := dec.Decode(&req); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("drive: request: %w", err)
		}
		var rep driveReply
		var err error
		switch req.Op {
		case "produce_batched":
			acked := make([]atomic.Int64, req.Partitions)
			var d time.Duration
			d, err = produceBatched(ctx, c, req.Topic, req.N, hello.MessageSize, acked)
			rep.DurationNS = int64(d)
			for i := range acked {
				rep.Acked = append(rep.Acked, acked[i].Load())
			}
		case "producers":
			producers[req.ID], err = openProducers(ctx, c, req.Topic, req.N, req.Direct)
		case "each":
			var until time.Time
			if req.Until != 0 {
				until = time.Unix(0, req.Until)
			}
			var res loadResult
			res, err = produceEach(ctx, producers[req.ID], req.N, hello.MessageSize, until)
			rep.DurationNS = int64(res.d)
			rep.Latencies = make([]int64, len(res.latencies))
			for i, l := range res.latencies {
				rep.Latencies[i] = int64(l)
			}
		case "consumers":
			consumers[req.ID], err = openConsumers(ctx, c, req.Topic, req.Partitions, req.Direct)
		case "consume":
			var d time.Duration
			d, err = consumeBatched(ctx, consumers[req.ID], req.Wants)
			rep.DurationNS = int64(d)
		case "close":
			closeAll(producers[req.ID])
			closeAll(consumers[req.ID])
			delete(producers, req.ID)
			delete(consumers, req.ID)
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		if err != nil {
			rep = driveReply{Error: err.Error()}
		}
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("drive: reply: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("drive: reply: %w", err)
		}
	}
}

// driverLoad runs the client in a driver process.
type driverLoad struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	enc *json.Encoder
	dec *json.Decoder

	mu     sync.Mutex // one request at a time
	nextID int
}

// startDriver starts the driver process with command and says hello.
func startDriver(ctx context.Context, command []string, managers []string, size int, stderr io.Writer) (*driverLoad, error) {
	if len(command) == 0 {
		return nil, errors.New("driver: no command")
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("driver: start %s: %w", command[0], err)
	}
	d := &driverLoad{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReader(out))}
	if err := d.enc.Encode(driveHello{Managers: managers, MessageSize: size}); err != nil {
		d.close()
		return nil, fmt.Errorf("driver: hello: %w", err)
	}
	return d, nil
}

// pid is the driver process's id.
func (d *driverLoad) pid() int { return d.cmd.Process.Pid }

// call sends req and returns the reply.
func (d *driverLoad) call(req driveRequest) (driveReply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var rep driveReply
	if err := d.enc.Encode(req); err != nil {
		return rep, fmt.Errorf("driver: %s: %w", req.Op, err)
	}
	if err := d.dec.Decode(&rep); err != nil {
		return rep, fmt.Errorf("driver: %s: no reply: %w", req.Op, err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("driver: %s: %s", req.Op, rep.Error)
	}
	return rep, nil
}

func (d *driverLoad) id() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	return d.nextID
}

// close ends the driver's input and waits for it to exit.
func (d *driverLoad) close() {
	d.in.Close()
	d.cmd.Wait()
}

func (d *driverLoad) produceBatched(ctx context.Context, topic string, n int, acked []atomic.Int64) (time.Duration, error) {
	rep, err := d.call(driveRequest{Op: "produce_batched", Topic: topic, N: n, Partitions: len(acked)})
	if err != nil {
		return 0, err
	}
	for p, k := range rep.Acked {
		acked[p].Add(k)
	}
	return time.Duration(rep.DurationNS), nil
}

func (d *driverLoad) producers(ctx context.Context, topic string, n int, direct bool) (producerSet, error) {
	id := d.id()
	_, err := d.call(driveRequest{Op: "producers", ID: id, Topic: topic, N: n, Direct: direct})
	return remoteSet{d, id}, err
}

func (d *driverLoad) consumers(ctx context.Context, topic string, partitions int, direct bool) (consumerSet, error) {
	id := d.id()
	_, err := d.call(driveRequest{Op: "consumers", ID: id, Topic: topic, Partitions: partitions, Direct: direct})
	return remoteSet{d, id}, err
}

// remoteSet is a set of producers or consumers in the driver.
type remoteSet struct {
	d  *driverLoad
	id int
}

func (r remoteSet) each(ctx context.Context, n int, until time.Time) (loadResult, error) {
	req := driveRequest{Op: "each", ID: r.id, N: n}
	if !until.IsZero() {
		req.Until = until.UnixNano()
	}
	rep, err := r.d.call(req)
	if err != nil {
		return loadResult{}, err
	}
	res := loadResult{d: time.Duration(rep.DurationNS), messages: len(rep.Latencies), latencies: make([]time.Duration, len(rep.Latencies))}
	for i, l := range rep.Latencies {
		res.latencies[i] = time.Duration(l)
	}
	return res, nil
}

func (r remoteSet) consume(ctx context.Context, wants []int) (time.Duration, error) {
	rep, err := r.d.call(driveRequest{Op: "consume", ID: r.id, Wants: wants})
	return time.Duration(rep.DurationNS), err
}

func (r remoteSet) close() { r.d.call(driveRequest{Op: "close", ID: r.id}) }
