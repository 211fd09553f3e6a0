/* The real Python programs' `native` phase (realpy.py loads this with ctypes, which
 * releases the GIL around a foreign call): C work whose length is its own clock, not a
 * guess of how fast some library code runs. Sized work (PBKDF2 iterations) ran 1.7 times
 * as long while the other vCPU was busy on the development VM (hyper-threaded siblings),
 * so a phase sized alone ran long beside a busy thread.
 *
 * It counts running time as realpy's `burst` does: a pause between two clock reads
 * longer than `gap` is left out only if the thread was switched out meanwhile (its
 * context switches, from getrusage(RUSAGE_THREAD), changed); a shorter one, or one with
 * no switch (the OS's interrupt), counts. Returns CLOCK_MONOTONIC (the clock of Python's
 * time.perf_counter_ns) when it ends, so the caller knows when the call returned. */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static int64_t now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static long switches(void) {
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

int64_t sim_native(int64_t ns, int64_t gap) {
    int64_t done = 0, last = now();
    long seen = switches();
    while (done < ns) {
        int64_t t = now();
        if (t - last < gap) {
            done += t - last;
        } else {
            long before = seen;
            seen = switches();
            if (seen == before)
                done += t - last;
        }
        last = t;
    }
    return last;
}
