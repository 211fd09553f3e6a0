/* How late the kernel ends a timed wait, and how long a woken thread takes to run: the
 * measurements behind the linux profile's timer_lateness and wake_latency (sim/machine.py).
 *
 *   gcc -O2 -pthread docs/runtime-notes/machine_delays.c -o /tmp/machine_delays
 *   /tmp/machine_delays > delays.csv     # kind,ns: 3,000 sleeps and 2,000 wake-ups
 *
 * "late": nanosleep of 20 us, 1 ms and 2 ms in turn, how much longer each took.
 * "wake": every 1 ms the main thread signals a condition variable another thread waits on
 * (on an idle core); the time from the signal to the waiter running.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long signalled_at;
static int flag;
enum { WAKES = 2000, SLEEPS = 3000 };
static long wake[WAKES];

static void *waiter(void *unused) {
    (void)unused;
    for (int i = 0; i < WAKES; i++) {
        pthread_mutex_lock(&mutex);
        while (!flag)
            pthread_cond_wait(&cond, &mutex);
        flag = 0;
        wake[i] = now() - signalled_at;
        pthread_mutex_unlock(&mutex);
    }
    return NULL;
}

int main(void) {
    const long lengths[] = {20000, 1000000, 2000000};
    printf("kind,ns\n");
    for (int i = 0; i < SLEEPS; i++) {
        long length = lengths[i % 3];
        struct timespec request = {0, length};
        long start = now();
        nanosleep(&request, NULL);
        printf("late,%ld\n", now() - start - length);
    }
    pthread_t thread;
    pthread_create(&thread, NULL, waiter, NULL);
    for (int i = 0; i < WAKES; i++) {
        struct timespec pause = {0, 1000000};
        do {  /* until the waiter has taken the last signal and waits again */
            nanosleep(&pause, NULL);
            pthread_mutex_lock(&mutex);
            if (flag)
                pthread_mutex_unlock(&mutex);
        } while (flag);
        flag = 1;
        signalled_at = now();
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&mutex);
    }
    pthread_join(thread, NULL);
    for (int i = 0; i < WAKES; i++)
        printf("wake,%ld\n", wake[i]);
    return 0;
}
