/* How late the kernel ends a timed wait, and how long a woken thread takes to run: the
 * measurements behind the linux profile's timer_lateness, wake_latency and
 * net_wake_latency (sim/machine.py).
 *
 *   gcc -O2 -pthread docs/runtime-notes/machine_delays.c -o /tmp/machine_delays
 *   /tmp/machine_delays > delays.csv     # kind,ns: 4,200 sleeps, 2,000 + 3,000 wake-ups
 *
 * "late_L": nanosleep of L ns, how much longer it took: 600 sleeps of each length (20 us,
 * 200 us, 1 ms, 2 ms, 5 ms, 10 ms, 20 ms) in turn, so that a drift of the machine's load
 * falls on every length alike (about 23 s). A CPU idle longer wakes later.
 * "wake": every 1 ms the main thread signals a condition variable another thread waits on
 * (on an idle core); the time from the signal to the waiter running.
 * "net": a wake-up through a socket, as a server's: a thread on the first allowed CPU
 * blocks in epoll_wait on a loopback TCP connection (TCP_NODELAY); every 0.5-1.5 ms
 * (stepped, so as not to lock to the kernel's tick) the main thread, on the second CPU,
 * writes its CLOCK_MONOTONIC stamp (8 bytes) to the other end; the time from the stamp
 * to epoll_wait's return (2,000 wake-ups). "net_same": the same with both threads on the
 * first CPU (1,000 wake-ups). With one CPU allowed, both are on it.
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
enum { WAKES = 2000, SLEEPS = 600, NET = 2000, NET_SAME = 1000 };  /* SLEEPS: a length */
static long wake[WAKES];
static long net[NET + NET_SAME];

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
    int fd, cpu, from, count;
    atomic_int done;  /* wake-ups recorded so far */
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
        while (epoll_wait(ep, &ready, 1, -1) < 1)
            ;
        long woken = now();
        if (recv(r->fd, &stamp, sizeof stamp, MSG_WAITALL) != sizeof stamp)
            exit(1);
        net[r->from + i] = woken - stamp;
        atomic_store(&r->done, i + 1);
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
 * ``receiver_cpu``, each once the receiver has taken the last and waits again */
static void net_wakes(int receiver_cpu, int sender_cpu, int from, int count) {
    struct receiver r = {.cpu = receiver_cpu, .from = from, .count = count};
    int client;
    loopback_pair(&client, &r.fd);
    pthread_t thread;
    pthread_create(&thread, NULL, receive, &r);
    pin(sender_cpu);
    for (int i = 0; i < count; i++) {
        struct timespec pause = {0, 500000 + (i * 337L) % 1000 * 1000};
        do
            nanosleep(&pause, NULL);
        while (atomic_load(&r.done) < i);
        long stamp = now();
        if (send(client, &stamp, sizeof stamp, 0) != sizeof stamp)
            exit(1);
    }
    pthread_join(thread, NULL);
    close(client);
    close(r.fd);
}

int main(void) {
    const long lengths[] = {20000, 200000, 1000000, 2000000, 5000000, 10000000, 20000000};
    enum { LENGTHS = sizeof lengths / sizeof lengths[0] };
    static long late[SLEEPS * LENGTHS];
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
    net_wakes(cpus[0], found > 1 ? cpus[1] : cpus[0], 0, NET);
    net_wakes(cpus[0], cpus[0], NET, NET_SAME);
    for (int i = 0; i < NET + NET_SAME; i++)
        printf("%s,%ld\n", i < NET ? "net" : "net_same", net[i]);
    return 0;
}
