/* What waking a parked thread costs the thread that wakes it: the time a runtime's thread
 * spends in pthread_cond_signal (a futex wake; on a VM an interrupt to the waiter's idle
 * vCPU) before it goes on. Not in the machine profile yet: docs/validation.md
 * ("threads_native") has why it matters and what it measured.
 *
 *   gcc -O2 -pthread docs/runtime-notes/signal_cost.c -o /tmp/signal_cost
 *   /tmp/signal_cost       # 300 wake-ups after each time parked; about 8 s
 *
 * A waiter on the first CPU sleeps in pthread_cond_wait; the main thread, on the second,
 * waits until it is parked, spins on the clock for the time parked, then times locking
 * the mutex, setting the flag, signalling and unlocking, and spins until the waiter has
 * woken (it never sleeps: as a GIL holder, Go's startm or Tokio's unpark goes on
 * running). Prints p10/p50/p90/p99 of that time per time parked. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 300

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static volatile int flag, parked, woken;

static int64_t now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *waiter(void *unused) {
    (void)unused;
    pin(0);
    for (;;) {
        pthread_mutex_lock(&mutex);
        parked = 1;
        while (!flag)
            pthread_cond_wait(&cond, &mutex);
        flag = parked = 0;
        woken++;
        pthread_mutex_unlock(&mutex);
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(void) {
    static const int64_t parked_ns[] = {20000, 200000, 1000000, 5000000, 20000000};
    pthread_t thread;
    pthread_create(&thread, NULL, waiter, NULL);
    pin(1);
    for (size_t k = 0; k < sizeof parked_ns / sizeof parked_ns[0]; k++) {
        int64_t took[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
            while (!parked)
                ;
            int64_t until = now() + parked_ns[k];
            while (now() < until)
                ;
            int before = woken;
            int64_t start = now();
            pthread_mutex_lock(&mutex);
            flag = 1;
            pthread_cond_signal(&cond);
            pthread_mutex_unlock(&mutex);
            took[i] = now() - start;
            while (woken == before)
                ;
        }
        qsort(took, ROUNDS, sizeof took[0], by_value);
        printf("parked %5lld us: signal p10 %.1f p50 %.1f p90 %.1f p99 %.1f us\n",
               (long long)(parked_ns[k] / 1000), took[ROUNDS / 10] / 1e3,
               took[ROUNDS / 2] / 1e3, took[ROUNDS * 9 / 10] / 1e3,
               took[ROUNDS * 99 / 100] / 1e3);
        fflush(stdout);
    }
    return 0;
}
