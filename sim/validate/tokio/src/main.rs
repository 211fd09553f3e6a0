//! Replays a sim workload on Tokio's multi-thread runtime and prints what happened.
//!
//! Input (stdin), one task per line in id order: `id arrival kind arg kind arg ...`, where
//! arrival is in ns (-1: created by a spawn phase) and kind is cpu, native, io, sleep, block,
//! yield or spawn (for spawn, arg is the child's id). Output (stdout), JSON lines with times
//! in ns since the start: `{"kind":"task",...}` per task and `{"kind":"wake",...}` per
//! wake-up (an arrival, a timer's expiry, a reply). The worker count is the first argument.
//! `cpu` and `native` spin on the worker; `block` is `std::thread::sleep` on it (a blocking
//! call holding the worker).
//!
//! Root tasks are spawned from the main thread, outside the runtime (inject queue plus a
//! notify, as sim's `accept: block_on`); children with `tokio::spawn` from their parent.
//!
//! Served (`SIM_BACKEND` set: loadgen.py started it): a server on loopback. It connects
//! `SIM_CONNECTIONS` connections to the backend, listens, prints `port N`, accepts as many
//! connections and spawns a task for each, prints `ready`. A connection's task reads a
//! request (`id sent`), runs task `id` in place and answers `id`: between requests it waits
//! on the I/O driver, and readiness wakes it on the polling worker (sim's `accept: worker`).
//! An `io` phase writes `id duration sent` on the connection's own backend connection and
//! awaits the reply `id replied`. Times are then CLOCK_MONOTONIC: loadgen shifts them.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
enum Phase {
    Cpu(u64),
    Io(u64),
    Sleep(u64),
    Block(u64),
    Yield,
    Spawn(usize),
}

struct World {
    t0: i64,
    tasks: Vec<Vec<Phase>>,
    done: Sender<String>,
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CLOCK_MONOTONIC in ns (the clock loadgen.py reads too).
fn monotonic() -> i64 {
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(1, &mut ts) }; // CLOCK_MONOTONIC
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

impl World {
    /// The time from t0 (t0 is 0 in a served run: CLOCK_MONOTONIC itself).
    fn ns(&self) -> i64 {
        monotonic() - self.t0
    }
}

/// A connection's own line to loadgen's stub backend.
struct Backend {
    replies: Lines<BufReader<OwnedReadHalf>>,
    out: OwnedWriteHalf,
}

/// Busy until `ns` have passed: a burst holds its worker for exactly its length.
fn spin(ns: u64) {
    let end = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < end {}
}

fn run(world: Arc<World>, id: usize, arrival: i64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let out = phases(&world, id, arrival, None).await;
        world.done.send(out).expect("main thread gone");
    })
}

/// Runs task `id`'s phases; its output lines.
async fn phases(world: &Arc<World>, id: usize, arrival: i64, mut backend: Option<&mut Backend>)
    -> String {
    let start = world.ns();
    let mut out =
        format!("{{\"kind\":\"wake\",\"id\":{id},\"ready\":{arrival},\"run\":{start}}}\n");
    for phase in world.tasks[id].clone() {
        match phase {
            Phase::Cpu(ns) => spin(ns),
            Phase::Block(ns) => std::thread::sleep(Duration::from_nanos(ns)),
            Phase::Io(ns) => {
                let b = backend.as_mut().expect("io outside a served connection");
                let msg = format!("{id} {ns} {}\n", monotonic());
                b.out.write_all(msg.as_bytes()).await.expect("backend write");
                let reply = b.replies.next_line().await.expect("backend").expect("a reply");
                let replied: i64 = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
                let woke = world.ns();
                out += &format!(
                    "{{\"kind\":\"wake\",\"id\":{id},\"ready\":{},\"run\":{woke}}}\n",
                    replied - world.t0
                );
            }
            Phase::Sleep(ns) => {
                let ready = world.ns() + ns as i64;
                tokio::time::sleep(Duration::from_nanos(ns)).await;
                let woke = world.ns();
                out += &format!(
                    "{{\"kind\":\"wake\",\"id\":{id},\"ready\":{ready},\"run\":{woke}}}\n"
                );
            }
            Phase::Yield => tokio::task::yield_now().await,
            Phase::Spawn(child) => {
                let at = world.ns();
                tokio::spawn(run(world.clone(), child, at));
            }
        }
    }
    let finish = world.ns();
    out += &format!(
        "{{\"kind\":\"task\",\"id\":{id},\"arrival\":{arrival},\"start\":{start},\"finish\":{finish}}}\n"
    );
    out
}

/// Serves one client connection, a request at a time.
async fn connection(world: Arc<World>, client: TcpStream, mut backend: Backend) {
    let (input, mut output) = client.into_split();
    let mut requests = BufReader::new(input).lines();
    while let Ok(Some(line)) = requests.next_line().await {
        let mut f = line.split_whitespace();
        let id: usize = f.next().unwrap().parse().unwrap();
        let sent: i64 = f.next().unwrap().parse().unwrap();
        let out = phases(&world, id, sent, Some(&mut backend)).await;
        output.write_all(format!("{id}\n").as_bytes()).await.expect("client write");
        world.done.send(out).expect("main thread gone");
    }
}

/// Connects the backends, listens, accepts and spawns the connections' tasks.
async fn serve(world: Arc<World>, port: u16, count: usize) {
    let mut backends = Vec::new();
    for _ in 0..count {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("backend");
        stream.set_nodelay(true).unwrap();
        let (input, out) = stream.into_split();
        backends.push(Backend { replies: BufReader::new(input).lines(), out });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    println!("port {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for backend in backends {
        let (client, _) = listener.accept().await.expect("accept");
        client.set_nodelay(true).unwrap();
        tokio::spawn(connection(world.clone(), client, backend));
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
}

fn parse(text: &str, served: bool) -> (Vec<Vec<Phase>>, Vec<usize>) {
    let mut tasks = Vec::new();
    let mut roots = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let arrival: i64 = f[1].parse().expect("arrival");
        assert!(served || arrival <= 0, "only arrivals at 0 are supported");
        if arrival == 0 {
            roots.push(tasks.len());
        }
        let phases = f[2..]
            .chunks(2)
            .map(|p| {
                let arg: u64 = p[1].parse().expect("phase argument");
                match p[0] {
                    "cpu" | "native" => Phase::Cpu(arg),
                    "io" => Phase::Io(arg),
                    "sleep" => Phase::Sleep(arg),
                    "block" => Phase::Block(arg),
                    "yield" => Phase::Yield,
                    "spawn" => Phase::Spawn(arg as usize),
                    other => panic!("unsupported phase kind {other}"),
                }
            })
            .collect();
        tasks.push(phases);
    }
    (tasks, roots)
}

fn main() {
    let workers: usize = std::env::args()
        .nth(1)
        .map_or(2, |w| w.parse().expect("workers"));
    let backend: Option<u16> = std::env::var("SIM_BACKEND").ok().map(|p| p.parse().unwrap());
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin");
    let (tasks, roots) = parse(&text, backend.is_some());
    let n = tasks.len();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_time();
    if backend.is_some() {
        builder.enable_io(); // (alone, the time driver parks on a condvar, as it always did)
    }
    let rt = builder.build().expect("runtime");
    let (tx, rx) = channel();
    if let Some(port) = backend {
        let count: usize = std::env::var("SIM_CONNECTIONS").map_or(64, |c| c.parse().unwrap());
        let world = Arc::new(World { t0: 0, tasks, done: tx });
        rt.block_on(serve(world, port, count));
    } else {
        // let the workers start and park before the clock starts
        std::thread::sleep(Duration::from_millis(50));
        let world = Arc::new(World { t0: monotonic(), tasks, done: tx });
        for id in roots {
            rt.spawn(run(world.clone(), id, 0));
        }
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{{\"kind\":\"info\",\"runtime\":\"tokio\",\"workers\":{workers}}}"
    )
    .unwrap();
    for _ in 0..n {
        stdout
            .write_all(rx.recv().expect("a task").as_bytes())
            .unwrap();
    }
}
