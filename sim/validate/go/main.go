// Command main replays a sim workload on the Go runtime and prints what happened.
//
// Input (stdin), one task per line in id order: "id arrival kind arg kind arg ...", where
// arrival is in ns (-1: created by a spawn phase) and kind is cpu, sleep, yield or spawn
// (for spawn, arg is the child's id). Output (stdout), JSON lines with times in ns since
// the start: {"kind":"task","id","arrival","start","finish"} per task and
// {"kind":"wake","id","ready","run"} per wake-up (an arrival, a timer's expiry).
//
// A cpu phase is a loop that makes no calls, calibrated in iterations per ns at start-up,
// so that with GODEBUG=asyncpreemptoff=1 nothing can preempt it (docs/runtime-notes/go.md
// S10). GOMAXPROCS and GODEBUG come from the environment.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type phase struct {
	kind string
	arg  int64
}

type record struct {
	arrival, start, finish int64
	wakes                  [][2]int64
}

var (
	sink    uint64
	perNs   float64
	t0      time.Time
	tasks   [][]phase
	records []record
	wg      sync.WaitGroup
)

// spin runs n iterations of a loop without calls: only a signal can stop it.
func spin(n int64) {
	x := sink
	for i := int64(0); i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

// calibrate returns the loop's speed in iterations per ns: the median of several
// rounds, so that a burst lasts its length on this machine as it is (interrupts and
// other load included), as a wall-clock spin does in the Python and Rust programs.
func calibrate() float64 {
	const n = 1 << 22
	rates := make([]float64, 21)
	for r := range rates {
		s := time.Now()
		spin(n)
		rates[r] = float64(n) / float64(time.Since(s).Nanoseconds())
	}
	sort.Float64s(rates)
	return rates[len(rates)/2]
}

func since() int64 { return time.Since(t0).Nanoseconds() }

func run(id int) {
	rec := &records[id]
	rec.start = since()
	rec.wakes = append(rec.wakes, [2]int64{rec.arrival, rec.start})
	for _, p := range tasks[id] {
		switch p.kind {
		case "cpu":
			spin(int64(float64(p.arg) * perNs))
		case "sleep":
			ready := since() + p.arg
			time.Sleep(time.Duration(p.arg))
			rec.wakes = append(rec.wakes, [2]int64{ready, since()})
		case "yield":
			runtime.Gosched()
		case "spawn":
			records[p.arg].arrival = since()
			go run(int(p.arg))
		}
	}
	rec.finish = since()
	wg.Done()
}

func read() []int {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	var roots []int
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) < 2 {
			continue
		}
		arrival, _ := strconv.ParseInt(f[1], 10, 64)
		if arrival > 0 {
			fmt.Fprintln(os.Stderr, "only arrivals at 0 are supported")
			os.Exit(2)
		}
		var ps []phase
		for i := 2; i+1 < len(f); i += 2 {
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

func main() {
	roots := read()
	records = make([]record, len(tasks))
	perNs = calibrate()
	wg.Add(len(tasks))
	t0 = time.Now()
	for _, id := range roots {
		go run(id)
	}
	wg.Wait()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "{\"kind\":\"info\",\"runtime\":%q,\"gomaxprocs\":%d,\"godebug\":%q,\"iterations_per_ns\":%.4f}\n",
		runtime.Version(), runtime.GOMAXPROCS(0), os.Getenv("GODEBUG"), perNs)
	for id, r := range records {
		fmt.Fprintf(out, "{\"kind\":\"task\",\"id\":%d,\"arrival\":%d,\"start\":%d,\"finish\":%d}\n",
			id, r.arrival, r.start, r.finish)
		for _, w := range r.wakes {
			fmt.Fprintf(out, "{\"kind\":\"wake\",\"id\":%d,\"ready\":%d,\"run\":%d}\n", id, w[0], w[1])
		}
	}
	out.Flush()
}
