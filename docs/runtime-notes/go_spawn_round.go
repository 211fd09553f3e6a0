// A generator that sleeps uniform(1, 3) ms then spawns a child (200 us of CPU), 1,000
// times, GOMAXPROCS=1, nothing else running (the request stream of the validation's
// go_*_hog scenarios without the hog): per round, how late the sleep ended, and how long
// after the spawn the child's first statement ran (docs/validation.md, issue 17).
//
//	cd docs/runtime-notes && GO111MODULE=off go run go_spawn_round.go
package main

import (
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	const n = 1000
	late := make([]float64, n)
	startGap := make([]float64, n)
	spawned := make([]time.Time, n)
	done := make(chan struct{}, n)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		d := time.Duration(1000000 + r.Int63n(2000000))
		t := time.Now()
		time.Sleep(d)
		late[i] = float64(time.Since(t)-d) / 1e3
		spawned[i] = time.Now()
		go func(i int) {
			startGap[i] = float64(time.Since(spawned[i])) / 1e3
			x := 0
			for end := time.Now().Add(200 * time.Microsecond); time.Now().Before(end); {
				x++
			}
			_ = x
			done <- struct{}{}
		}(i)
	}
	for i := 0; i < n; i++ {
		<-done
	}
	q := func(v []float64) string {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return fmt.Sprintf("p10 %.1f p50 %.1f p90 %.1f p99 %.1f", s[n/10], s[n/2], s[n*9/10], s[n*99/100])
	}
	fmt.Println("sleep late (us):", q(late))
	fmt.Println("spawn to child start (us):", q(startGap))
}
