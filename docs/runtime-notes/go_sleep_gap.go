// How long after a goroutine sets its timer its idle M reads the clock for netpoll: the
// machine's go_netpoll_entry (sim/machine.py). Go 1.19's netpoll waits whole
// milliseconds, the delay truncated (netpoll_epoll.go), and the delay is the timer's
// distance when findRunnable read the clock, a little after time.Sleep set the timer.
// So a sleep of exactly 2 ms waits 1 ms, then 1 ms more (two timer latenesses late),
// and a sleep of 2 ms + x waits once when x is more than that gap.
//
//	cd docs/runtime-notes && GO111MODULE=off go run go_sleep_gap.go   # about 10 s
//
// GOMAXPROCS=1 and nothing else runs, so the P is idle during each sleep. Prints, for
// each x, the share of 400 sleeps of 2 ms + x that ended less than 140 us late (one
// wait: a wait ends 70-130 us late on the development VM, two 150-250 us).
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	offsets := []time.Duration{0, 250, 500, 750, 1000, 1500, 2000, 4000}
	for _, x := range offsets {
		d := 2*time.Millisecond + x
		once := 0
		for i := 0; i < 400; i++ {
			start := time.Now()
			time.Sleep(d)
			if time.Since(start)-d < 140*time.Microsecond {
				once++
			}
		}
		fmt.Printf("sleep 2 ms + %v: one wait in %.0f %% of 400\n", x, float64(once)/4)
	}
}
