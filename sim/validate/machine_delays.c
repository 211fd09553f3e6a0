/* How late the kernel ends a timed wait, how long a woken thread takes to run and what
 * waking it costs the waker: the measurements behind the linux profile's timer_lateness,
 * wake_latency, signal_cost and net_wake_latency (sim/machine.py).
 *
 *   gcc -O2 -pthread sim/validate/machine_delays.c -o /tmp/machine_delays
 *   /tmp/machine_delays > delays.csv     # kind,ns: 4,200 sleeps, 4,200 condvar
 *                                        # wake-ups and their signals' costs,
 *                                        # 4,200 + 1,000 socket wake-ups, 9 round costs,
 *                                        # 4,500 sleeps beside a spinner;
 *                                        # about 70 s
 *
 * "late_L": nanosleep of L ns, how much longer it took: 600 sleeps of each length (20 us,
 * 200 us, 1 ms, 2 ms, 5 ms, 10 ms, 20 ms) in turn, so that a drift of the machine's load
 * falls on every length alike (about 23 s). A CPU idle longer wakes later.
 * "wake_L": a condition variable's signal, as a runtime's to a parked thread while the
 * signaller runs on (a GIL's holder, Go's startm, Tokio's unpark), after the waiter was
 * parked L ns: a thread on the first allowed CPU publishes its CLOCK_MONOTONIC time under
 * the mutex just before pthread_cond_wait; the main thread, on the second CPU, waits for
 * that, spins on the clock until L after it, then locks the mutex, sets the flag, takes
 * its stamp, signals and unlocks, and spins on (it does not sleep) until the next round;
 * the time from the stamp to the waiter running. 600 wake-ups of each of the sleeps'
 * lengths, in turn as they are (about 23 s). A CPU idle longer wakes later; a waiter free
 * to run on the signaller's CPU (neither pinned) wakes sooner, that CPU being awake.
 * "signal_L": what each of those signals cost the signaller: the time from just before it
 * locks the mutex to just after it unlocks it (pthread_cond_signal's futex wake; on a VM
 * an interrupt to the waiter's idle vCPU, dearer the longer that vCPU has been idle).
 * "net_L": a wake-up through a socket, as a server's, after the receiver was parked L ns:
 * a thread on the first allowed CPU blocks in epoll_wait on a loopback TCP connection
 * (TCP_NODELAY), publishing its CLOCK_MONOTONIC time just before; the main thread, on the
 * second CPU, waits for that, spins on the clock until L after it (a nanosleep's own
 * lateness, ~0.1 ms, would lengthen the parked time) and writes its stamp (8 bytes) to
 * the other end; the time from the stamp to epoll_wait's return. 600 wake-ups of each of
 * the sleeps' lengths, in turn as they are (about 24 s). A CPU idle longer wakes later.
 * "net_same": the same with both threads on the first CPU, the sender sleeping until
 * 0.5-1.5 ms (stepped, so as not to lock to the kernel's tick) after the receiver parked
 * (1,000 wake-ups). With one CPU allowed, both threads of "wake_L" and "net_L" are on it
 * and the signaller or sender sleeps until L after (the parked time then L plus that
 * sleep's lateness).
 * "round_cost": what a thread that sleeps 20 us at a time (Go's sysmon in its busy rounds)
 * takes from a thread spinning on the same CPU, per sleep: both on the first allowed CPU,
 * the spinner counts the time it did not run (gaps over 1 us between two clock reads)
 * while the other makes 500 nanosleeps of 20 us, less what it loses in as long a spell
 * while the other sleeps once (the machine's own interruptions); 9 repeats (about 1 s).
 * The timer interrupt, two context switches and the sleep's own system call: a sysmon
 * round adds its own work (retake's loop) to it.
 * "busy_late": how late each of those 4,500 sleeps ended: a timed wait on a CPU that is
 * running another thread (no idle state to leave; the timer slack, 50 us by default, and
 * the switch remain), as sysmon's usleep beside a running M.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

enum { SLEEPS = 600, NET_SAME = 1000 };  /* SLEEPS: of a length, also wake-ups */
static const long lengths[] = {20000, 200000, 1000000, 2000000, 5000000, 10000000, 20000000};
enum { LENGTHS = sizeof lengths / sizeof lengths[0] };
static long wake[SLEEPS * LENGTHS], signals[SLEEPS * LENGTHS], net[SLEEPS * LENGTHS],
    net_same[NET_SAME];

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* Until ``due`` (CLOCK_MONOTONIC ns): spinning when the woken thread has a CPU of its
 * own, else sleeping (a spin would keep the woken thread's CPU busy) */
static void wait_until(long due, int spin) {
    if (spin) {
        while (now() < due)
            ;
        return;
    }
    struct timespec until = {due / 1000000000L, due % 1000000000L};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL))
        ;
}

/* Until the woken thread has published ``parked`` >= ``i`` (it has taken the last wake-up
 * and waits again): spinning, or in 20 us sleeps on its CPU */
static void until_parked(atomic_int *parked, int i, int spin) {
    struct timespec tick = {0, 20000};
    while (atomic_load(parked) < i)
        if (!spin)
            nanosleep(&tick, NULL);
}

/* --- the wake-up through a condition variable ---------------------------------------- */

struct waiter {
    int cpu, count;
    long *woken;            /* from each stamp to the waiter running */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int flag;               /* a signal not yet taken (under the mutex) */
    long signalled_at;      /* its stamp (under the mutex) */
    atomic_long parked_at;  /* when it last called pthread_cond_wait */
    atomic_int parked;      /* signals taken before that: the signaller's go */
};

static void *wait_signals(void *arg) {
    struct waiter *w = arg;
    pin(w->cpu);
    pthread_mutex_lock(&w->mutex);
    for (int i = 0; i < w->count; i++) {
        atomic_store(&w->parked_at, now());
        atomic_store(&w->parked, i);  /* after parked_at: the signaller reads them so */
        while (!w->flag)
            pthread_cond_wait(&w->cond, &w->mutex);
        w->woken[i] = now() - w->signalled_at;
        w->flag = 0;
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

/* ``count`` signals from ``signaller_cpu`` to a thread waiting on a condition variable on
 * ``waiter_cpu``, the i-th once the waiter has taken the last and has been parked
 * ``parked_for[i]`` ns; ``woken[i]`` from that signal's stamp to the waiter running,
 * ``cost[i]`` the signaller's time from locking the mutex to having unlocked it */
static void cond_wakes(int waiter_cpu, int signaller_cpu, int count, const long *parked_for,
                       long *woken, long *cost) {
    struct waiter w = {.cpu = waiter_cpu, .count = count, .woken = woken,
                       .mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
                       .parked = -1};
    int spin = signaller_cpu != waiter_cpu;
    pthread_t thread;
    pthread_create(&thread, NULL, wait_signals, &w);
    pin(signaller_cpu);
    for (int i = 0; i < count; i++) {
        until_parked(&w.parked, i, spin);
        wait_until(atomic_load(&w.parked_at) + parked_for[i], spin);
        long start = now();
        pthread_mutex_lock(&w.mutex);
        w.flag = 1;
        w.signalled_at = now();
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.mutex);
        cost[i] = now() - start;
    }
    pthread_join(thread, NULL);
}

/* --- the wake-up through a socket ---------------------------------------------------- */

struct receiver {
    int fd, cpu, count;
    long *woken;            /* from each stamp to epoll_wait's return */
    atomic_long parked_at;  /* when it last called epoll_wait */
    atomic_int parked;      /* stamps taken before that: the sender's go */
};

static void *receive(void *arg) {
    struct receiver *r = arg;
    pin(r->cpu);
    int ep = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = r->fd}, ready;
    epoll_ctl(ep, EPOLL_CTL_ADD, r->fd, &event);
    for (int i = 0; i < r->count; i++) {
        long stamp;
        atomic_store(&r->parked_at, now());
        atomic_store(&r->parked, i);  /* after parked_at: the sender reads them so */
        while (epoll_wait(ep, &ready, 1, -1) < 1)
            ;
        long woken = now();
        if (recv(r->fd, &stamp, sizeof stamp, MSG_WAITALL) != sizeof stamp)
            exit(1);
        r->woken[i] = woken - stamp;
    }
    close(ep);
    return NULL;
}

static void loopback_pair(int *client, int *server) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&addr, len) || listen(listener, 1) ||
        getsockname(listener, (struct sockaddr *)&addr, &len))
        exit(1);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(*client, (struct sockaddr *)&addr, len))
        exit(1);
    *server = accept(listener, NULL, NULL);
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(listener);
}

/* ``count`` stamps sent from ``sender_cpu`` to a thread blocked in epoll_wait on
 * ``receiver_cpu``, the i-th once the receiver has taken the last and has been parked
 * ``parked_for[i]`` ns; ``woken[i]`` from that stamp to epoll_wait's return */
static void net_wakes(int receiver_cpu, int sender_cpu, int count, const long *parked_for,
                      long *woken) {
    struct receiver r = {.cpu = receiver_cpu, .count = count, .woken = woken, .parked = -1};
    int client, spin = sender_cpu != receiver_cpu;
    loopback_pair(&client, &r.fd);
    pthread_t thread;
    pthread_create(&thread, NULL, receive, &r);
    pin(sender_cpu);
    for (int i = 0; i < count; i++) {
        until_parked(&r.parked, i, spin);
        wait_until(atomic_load(&r.parked_at) + parked_for[i], spin);
        long stamp = now();
        if (send(client, &stamp, sizeof stamp, 0) != sizeof stamp)
            exit(1);
    }
    pthread_join(thread, NULL);
    close(client);
    close(r.fd);
}

/* --- a short-sleeping thread on a busy CPU ------------------------------------------- */

enum { ROUNDS = 500, ROUND_REPEATS = 9, GAP_NS = 1000 };
static atomic_int spinning;
static _Atomic long lost;  /* ns the spinner did not run */
static int spin_cpu;

static void *spin_counting(void *arg) {
    (void)arg;
    pin(spin_cpu);
    long last = now();
    while (atomic_load_explicit(&spinning, memory_order_relaxed)) {
        long t = now();
        if (t - last > GAP_NS)
            atomic_fetch_add_explicit(&lost, t - last, memory_order_relaxed);
        last = t;
    }
    return NULL;
}

static long busy_late[ROUNDS * ROUND_REPEATS];  /* each of those sleeps' lateness */

/* The spinner's lost time per 20 us sleep of the calling thread, both on ``cpu``; each
 * sleep's lateness goes to busy_late[repeat * ROUNDS ...] */
static long round_cost(int cpu, int repeat) {
    pthread_t thread;
    spin_cpu = cpu;
    atomic_store(&lost, 0);
    atomic_store(&spinning, 1);
    pthread_create(&thread, NULL, spin_counting, NULL);
    struct timespec settle = {0, 5000000}, pause = {0, 20000};
    nanosleep(&settle, NULL);
    long before = atomic_load(&lost), start = now();
    for (int i = 0; i < ROUNDS; i++) {
        long t = now();
        nanosleep(&pause, NULL);
        busy_late[repeat * ROUNDS + i] = now() - t - pause.tv_nsec;
    }
    long with = atomic_load(&lost) - before, span = now() - start;
    struct timespec whole = {span / 1000000000L, span % 1000000000L};
    before = atomic_load(&lost);
    start = now();
    nanosleep(&whole, NULL);
    long alone = atomic_load(&lost) - before, span_alone = now() - start;
    atomic_store(&spinning, 0);
    pthread_join(thread, NULL);
    return (with - alone * span / span_alone) / ROUNDS;
}

int main(void) {
    static long late[SLEEPS * LENGTHS], parked_for[SLEEPS * LENGTHS], paced[NET_SAME];
    printf("kind,ns\n");
    for (int i = 0; i < SLEEPS * LENGTHS; i++) {
        struct timespec request = {0, lengths[i % LENGTHS]};
        long start = now();
        nanosleep(&request, NULL);
        late[i] = now() - start - lengths[i % LENGTHS];
    }
    for (int i = 0; i < SLEEPS * LENGTHS; i++)  /* (printed after: no write between sleeps) */
        printf("late_%ld,%ld\n", lengths[i % LENGTHS], late[i]);
    cpu_set_t allowed;  /* the woken thread on the first allowed CPU, the waker on the next */
    sched_getaffinity(0, sizeof allowed, &allowed);
    int cpus[2] = {-1, -1}, found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET(cpu, &allowed))
            cpus[found++] = cpu;
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        parked_for[i] = lengths[i % LENGTHS];
    for (int i = 0; i < NET_SAME; i++)  /* 0.5-1.5 ms, stepped */
        paced[i] = 500000 + (i * 337L) % 1000 * 1000;
    int waker = found > 1 ? cpus[1] : cpus[0];
    cond_wakes(cpus[0], waker, SLEEPS * LENGTHS, parked_for, wake, signals);
    net_wakes(cpus[0], waker, SLEEPS * LENGTHS, parked_for, net);
    net_wakes(cpus[0], cpus[0], NET_SAME, paced, net_same);
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        printf("wake_%ld,%ld\n", lengths[i % LENGTHS], wake[i]);
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        printf("signal_%ld,%ld\n", lengths[i % LENGTHS], signals[i]);
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        printf("net_%ld,%ld\n", lengths[i % LENGTHS], net[i]);
    for (int i = 0; i < NET_SAME; i++)
        printf("net_same,%ld\n", net_same[i]);
    pin(cpus[0]);  /* (last: the main thread stays on that CPU) */
    for (int i = 0; i < ROUND_REPEATS; i++)
        printf("round_cost,%ld\n", round_cost(cpus[0], i));
    for (int i = 0; i < ROUNDS * ROUND_REPEATS; i++)
        printf("busy_late,%ld\n", busy_late[i]);
    return 0;
}
