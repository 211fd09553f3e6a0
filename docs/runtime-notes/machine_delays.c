/* How late the kernel ends a timed wait, and how long a woken thread takes to run: the
 * measurements behind the linux profile's timer_lateness, wake_latency and
 * net_wake_latency (sim/machine.py).
 *
 *   gcc -O2 -pthread docs/runtime-notes/machine_delays.c -o /tmp/machine_delays
 *   /tmp/machine_delays > delays.csv     # kind,ns: 4,200 sleeps, 2,000 + 4,200 + 1,000
 *                                        # wake-ups; about 50 s
 *
 * "late_L": nanosleep of L ns, how much longer it took: 600 sleeps of each length (20 us,
 * 200 us, 1 ms, 2 ms, 5 ms, 10 ms, 20 ms) in turn, so that a drift of the machine's load
 * falls on every length alike (about 23 s). A CPU idle longer wakes later.
 * "wake": every 1 ms the main thread signals a condition variable another thread waits on
 * (on an idle core); the time from the signal to the waiter running.
 * "net_L": a wake-up through a socket, as a server's, after the receiver was parked L ns:
 * a thread on the first allowed CPU blocks in epoll_wait on a loopback TCP connection
 * (TCP_NODELAY), publishing its CLOCK_MONOTONIC time just before; the main thread, on the
 * second CPU, waits for that, spins on the clock until L after it (a nanosleep's own
 * lateness, ~0.1 ms, would lengthen the parked time) and writes its stamp (8 bytes) to
 * the other end; the time from the stamp to epoll_wait's return. 600 wake-ups of each of
 * the sleeps' lengths, in turn as they are (about 24 s). A CPU idle longer wakes later.
 * "net_same": the same with both threads on the first CPU, the sender sleeping until
 * 0.5-1.5 ms (stepped, so as not to lock to the kernel's tick) after the receiver parked
 * (1,000 wake-ups). With one CPU allowed, both are on it and the sender sleeps until L
 * after (the parked time then L plus that sleep's lateness).
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

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long signalled_at;
static int flag;
enum { WAKES = 2000, SLEEPS = 600, NET_SAME = 1000 };  /* SLEEPS: of a length, also wake-ups */
static const long lengths[] = {20000, 200000, 1000000, 2000000, 5000000, 10000000, 20000000};
enum { LENGTHS = sizeof lengths / sizeof lengths[0] };
static long wake[WAKES];
static long net[SLEEPS * LENGTHS], net_same[NET_SAME];

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

/* --- the wake-up through a socket ---------------------------------------------------- */

struct receiver {
    int fd, cpu, count;
    long *woken;            /* from each stamp to epoll_wait's return */
    atomic_long parked_at;  /* when it last called epoll_wait */
    atomic_int parked;      /* stamps taken before that: the sender's go */
};

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

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

/* Until ``due`` (CLOCK_MONOTONIC ns): spinning when the receiver has a CPU of its own,
 * else sleeping (a spin would keep the receiver's CPU busy) */
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

/* ``count`` stamps sent from ``sender_cpu`` to a thread blocked in epoll_wait on
 * ``receiver_cpu``, the i-th once the receiver has taken the last and has been parked
 * ``parked_for[i]`` ns; ``woken[i]`` from that stamp to epoll_wait's return */
static void net_wakes(int receiver_cpu, int sender_cpu, int count, const long *parked_for,
                      long *woken) {
    struct receiver r = {.cpu = receiver_cpu, .count = count, .woken = woken, .parked = -1};
    int client, spin = sender_cpu != receiver_cpu;
    struct timespec tick = {0, 20000};
    loopback_pair(&client, &r.fd);
    pthread_t thread;
    pthread_create(&thread, NULL, receive, &r);
    pin(sender_cpu);
    for (int i = 0; i < count; i++) {
        while (atomic_load(&r.parked) < i)  /* until it has taken the last and waits again */
            if (!spin)
                nanosleep(&tick, NULL);
        wait_until(atomic_load(&r.parked_at) + parked_for[i], spin);
        long stamp = now();
        if (send(client, &stamp, sizeof stamp, 0) != sizeof stamp)
            exit(1);
    }
    pthread_join(thread, NULL);
    close(client);
    close(r.fd);
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
    cpu_set_t allowed;  /* the receiver on the first allowed CPU, the sender on the next */
    sched_getaffinity(0, sizeof allowed, &allowed);
    int cpus[2] = {-1, -1}, found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET(cpu, &allowed))
            cpus[found++] = cpu;
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        parked_for[i] = lengths[i % LENGTHS];
    for (int i = 0; i < NET_SAME; i++)  /* 0.5-1.5 ms, stepped */
        paced[i] = 500000 + (i * 337L) % 1000 * 1000;
    net_wakes(cpus[0], found > 1 ? cpus[1] : cpus[0], SLEEPS * LENGTHS, parked_for, net);
    net_wakes(cpus[0], cpus[0], NET_SAME, paced, net_same);
    for (int i = 0; i < SLEEPS * LENGTHS; i++)
        printf("net_%ld,%ld\n", lengths[i % LENGTHS], net[i]);
    for (int i = 0; i < NET_SAME; i++)
        printf("net_same,%ld\n", net_same[i]);
    return 0;
}
