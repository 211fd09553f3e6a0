// Command main replays a sim workload on the Go runtime and prints what happened.
//
// Input (stdin), one task per line in id order: "id arrival kind arg kind arg ...", where
// arrival is in ns (-1: created by a spawn phase) and kind is cpu, io, sleep, block, yield
// or spawn (for spawn, arg is the child's id). Output (stdout), JSON lines with times in ns
// since the start: {"kind":"task","id","arrival","start","finish"} per task and
// {"kind":"wake","id","ready","run"} per wake-up (an arrival, a timer's expiry, a reply, a
// blocking call's return).
//
// A cpu phase spins for its running time in a loop with no preemption point, so that with
// GODEBUG=asyncpreemptoff=1 nothing can preempt it (docs/runtime-notes/go.md S10). A block phase is nanosleep through syscall.Nanosleep (syscall.Syscall: the
// goroutine's M enters the syscall holding its P, which sysmon's retake may hand off).
// native is refused (it would need cgo). GOMAXPROCS and GODEBUG come from the environment.
//
// Served (SIM_BACKEND set: loadgen.py started it): a server on loopback. It dials
// SIM_CONNECTIONS connections to the backend, listens, prints "port N", accepts as many
// connections, prints "ready"; a goroutine per connection reads a request ("id sent"),
// runs task id, answers "id". An io phase writes "id duration sent" on the connection's own
// backend connection and reads the reply "id replied" (the goroutine parks on the
// netpoller meanwhile). Times are then runtime.nanotime (CLOCK_MONOTONIC): loadgen shifts
// them.
//
// For investigations: SIM_TRACE=file writes a runtime/trace of the run there (read it with
// go tool trace -d), and the info line's t0 is the CLOCK_MONOTONIC reading a run alone
// counts its times from (to line them up with perf record -k CLOCK_MONOTONIC; 0 served).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe" // go:linkname, getrusage's argument
)

type phase struct {
	kind string
	arg  int64
}

type record struct {
	arrival, start, finish int64
	wakes                  [][2]int64
}

// backend is a connection's own line to loadgen's stub backend.
type backend struct {
	conn net.Conn
	in   *bufio.Reader
}

var (
	sink    uint64
	t0      int64
	tasks   [][]phase
	records []record
	wg      sync.WaitGroup
)

// nanotime is the runtime's CLOCK_MONOTONIC reading (the clock loadgen.py reads too).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// gap: a longer pause between two clock reads of spin may mean the goroutine was not
// running (preempted off its P, or its M off its CPU): realpy.py's GAP.
const gap = 20_000

// steps between two clock reads of spin (about 4.5 us here, well under gap). A preemption
// signal that lands inside nanotime (runtime code, then the vDSO) is refused
// (preempt.go:isAsyncSafePoint) and sysmon only asks again 10 ms later; with 256 steps
// (280 ns) beside a 25 ns clock read, 8 % of the burst's time was in nanotime and 5 of 76
// signals were refused, so 1 slice in 14 ran 30 ms instead of 20 ms. At 4096 steps the
// clock's share is 0.5 %: the loop is, as the model's cpu phase, async-preemptible. A burst
// ends at the first read past its work: 2.2 us late on average, 4.5 us at most.
const steps = 4096

// progress counts every goroutine's steps of work (a phase begun or ended, a clock read
// of spin): a pause in which it moved by more than the pausing goroutine's own step was
// another goroutine's turn (on this P or, with GOMAXPROCS > 1, another: then a pause is
// taken for a turn lost, as a pause over gap always was).
var progress uint64

// spin is busy for ns of running time, as the Python threads' burst is: a burst is that
// much CPU work, however often it is preempted. (Counting the clock instead, a burst
// preempted for other goroutines ended early: with several hogs taking turns on one P,
// each was charged the others' slices and their CPU work came out short.) A pause over gap
// counts as running time when no other goroutine moved and its thread was not switched
// out: the OS's interrupt (the tick, a device), which the model's cores do not have and
// which a spin on the clock (asyncio's, Tokio's) counts too. Between clock reads it runs a
// loop without calls, and nanotime is nosplit (no stack check, so no cooperative
// preemption point): only a signal can stop it (asyncpreemptoff=1: nothing).
func spin(ns int64) {
	x := sink
	tid, switches := thread()
	mine := atomic.AddUint64(&progress, 1)
	for last := nanotime(); ns > 0; {
		for i := 0; i < steps; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		now := nanotime()
		step := atomic.AddUint64(&progress, 1)
		if d := now - last; d < gap {
			ns -= d
		} else {
			t, s := thread()
			if step == mine+1 && t == tid && s == switches {
				ns -= d
			}
			tid, switches = t, s
		}
		mine, last = step, now
	}
	sink = x
}

// thread is the calling M's thread id and its context switches so far
// (getrusage(RUSAGE_THREAD)). Raw system calls (no entersyscall, so no P handed off) from a
// nosplit function: no stack check, so no cooperative preemption point in spin
// (asyncpreemptoff=1 must leave it unstoppable; a plain call here let sysmon stop it).
//
//go:nosplit
func thread() (uintptr, int64) {
	var usage syscall.Rusage
	syscall.RawSyscall(syscall.SYS_GETRUSAGE, 1, uintptr(unsafe.Pointer(&usage)), 0)
	tid, _, _ := syscall.RawSyscall(syscall.SYS_GETTID, 0, 0, 0)
	return tid, usage.Nvcsw + usage.Nivcsw
}

// since is the time from t0 (t0 is 0 in a served run: CLOCK_MONOTONIC itself).
func since() int64 { return nanotime() - t0 }

// run runs task id's phases; b is its connection's backend (nil for a task run alone).
func run(id int, b *backend) {
	rec := &records[id]
	rec.start = since()
	rec.wakes = append(rec.wakes, [2]int64{rec.arrival, rec.start})
	for _, p := range tasks[id] {
		atomic.AddUint64(&progress, 1)
		switch p.kind {
		case "cpu":
			spin(p.arg)
		case "io":
			fmt.Fprintf(b.conn, "%d %d %d\n", id, p.arg, nanotime())
			line, err := b.in.ReadString('\n')
			if err != nil {
				fmt.Fprintln(os.Stderr, "backend:", err)
				os.Exit(1)
			}
			replied, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			rec.wakes = append(rec.wakes, [2]int64{replied - t0, since()})
		case "sleep":
			ready := since() + p.arg
			time.Sleep(time.Duration(p.arg))
			rec.wakes = append(rec.wakes, [2]int64{ready, since()})
		case "block":
			ready := since() + p.arg
			ts := syscall.NsecToTimespec(p.arg)
			for syscall.Nanosleep(&ts, &ts) == syscall.EINTR { // a preemption signal
			}
			rec.wakes = append(rec.wakes, [2]int64{ready, since()})
		case "yield":
			runtime.Gosched()
		case "spawn":
			records[p.arg].arrival = since()
			go func(child int) { run(child, nil); wg.Done() }(int(p.arg))
		}
	}
	rec.finish = since()
	atomic.AddUint64(&progress, 1)
}

func read(served bool) []int {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	var roots []int
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) < 2 {
			continue
		}
		arrival, _ := strconv.ParseInt(f[1], 10, 64)
		if arrival > 0 && !served {
			fmt.Fprintln(os.Stderr, "only arrivals at 0 are supported")
			os.Exit(2)
		}
		var ps []phase
		for i := 2; i+1 < len(f); i += 2 {
			if f[i] == "native" {
				fmt.Fprintln(os.Stderr, "native phases are not supported (no cgo)")
				os.Exit(2)
			}
			arg, _ := strconv.ParseInt(f[i+1], 10, 64)
			ps = append(ps, phase{f[i], arg})
		}
		if arrival == 0 {
			roots = append(roots, len(tasks))
		}
		tasks = append(tasks, ps)
	}
	return roots
}

// connection serves one client connection: a request at a time.
func connection(c net.Conn, b *backend) {
	in := bufio.NewReader(c)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		id, _ := strconv.Atoi(f[0])
		records[id].arrival, _ = strconv.ParseInt(f[1], 10, 64)
		run(id, b)
		fmt.Fprintf(c, "%d\n", id)
		wg.Done()
	}
}

// serve sets up the connections (before any request comes), then serves them.
func serve(port string) {
	count, _ := strconv.Atoi(os.Getenv("SIM_CONNECTIONS"))
	backends := make([]*backend, count)
	for i := range backends {
		conn, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			os.Exit(1)
		}
		backends[i] = &backend{conn, bufio.NewReader(conn)}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	for i := 0; i < count; i++ {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			os.Exit(1)
		}
		go connection(c, backends[i])
	}
	fmt.Println("ready")
}

// traceTo starts a runtime/trace of the run into path; the function returned stops it.
func traceTo(path string) func() {
	f, err := os.Create(path)
	if err == nil {
		err = trace.Start(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trace:", err)
		os.Exit(1)
	}
	return func() { trace.Stop(); f.Close() }
}

func main() {
	stop := func() {}
	if path := os.Getenv("SIM_TRACE"); path != "" {
		stop = traceTo(path)
	}
	port, served := os.LookupEnv("SIM_BACKEND")
	roots := read(served)
	records = make([]record, len(tasks))
	wg.Add(len(tasks))
	if served {
		serve(port)
	} else {
		t0 = nanotime()
		for _, id := range roots {
			go func(id int) { run(id, nil); wg.Done() }(id)
		}
	}
	wg.Wait()
	stop()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "{\"kind\":\"info\",\"runtime\":%q,\"gomaxprocs\":%d,\"godebug\":%q,\"t0\":%d}\n",
		runtime.Version(), runtime.GOMAXPROCS(0), os.Getenv("GODEBUG"), t0)
	for id, r := range records {
		fmt.Fprintf(out, "{\"kind\":\"task\",\"id\":%d,\"arrival\":%d,\"start\":%d,\"finish\":%d}\n",
			id, r.arrival, r.start, r.finish)
		for _, w := range r.wakes {
			fmt.Fprintf(out, "{\"kind\":\"wake\",\"id\":%d,\"ready\":%d,\"run\":%d}\n", id, w[0], w[1])
		}
	}
	out.Flush()
}
