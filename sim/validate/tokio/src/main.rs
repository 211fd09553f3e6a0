//! Replays a sim workload on Tokio's multi-thread runtime and prints what happened.
//!
//! Input (stdin), one task per line in id order: `id arrival kind arg kind arg ...`, where
//! arrival is in ns (-1: created by a spawn phase) and kind is cpu, sleep, yield or spawn
//! (for spawn, arg is the child's id). Output (stdout), JSON lines with times in ns since the
//! start: `{"kind":"task",...}` per task and `{"kind":"wake",...}` per wake-up (an arrival,
//! a timer's expiry). The worker count is the first argument.
//!
//! Root tasks are spawned from the main thread, outside the runtime (inject queue plus a
//! notify, as sim's `accept: block_on`); children with `tokio::spawn` from their parent.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Phase {
    Cpu(u64),
    Sleep(u64),
    Yield,
    Spawn(usize),
}

struct World {
    t0: Instant,
    tasks: Vec<Vec<Phase>>,
    done: Sender<String>,
}

impl World {
    fn ns(&self) -> i64 {
        self.t0.elapsed().as_nanos() as i64
    }
}

/// Busy until `ns` have passed: a burst holds its worker for exactly its length.
fn spin(ns: u64) {
    let end = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < end {}
}

fn run(world: Arc<World>, id: usize, arrival: i64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let start = world.ns();
        let mut out =
            format!("{{\"kind\":\"wake\",\"id\":{id},\"ready\":{arrival},\"run\":{start}}}\n");
        for phase in world.tasks[id].clone() {
            match phase {
                Phase::Cpu(ns) => spin(ns),
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
        world.done.send(out).expect("main thread gone");
    })
}

fn parse(text: &str) -> (Vec<Vec<Phase>>, Vec<usize>) {
    let mut tasks = Vec::new();
    let mut roots = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let arrival: i64 = f[1].parse().expect("arrival");
        assert!(arrival <= 0, "only arrivals at 0 are supported");
        if arrival == 0 {
            roots.push(tasks.len());
        }
        let phases = f[2..]
            .chunks(2)
            .map(|p| {
                let arg: u64 = p[1].parse().expect("phase argument");
                match p[0] {
                    "cpu" => Phase::Cpu(arg),
                    "sleep" => Phase::Sleep(arg),
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
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin");
    let (tasks, roots) = parse(&text);
    let n = tasks.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("runtime");
    // let the workers start and park before the clock starts
    std::thread::sleep(Duration::from_millis(50));
    let (tx, rx) = channel();
    let world = Arc::new(World {
        t0: Instant::now(),
        tasks,
        done: tx,
    });
    for id in roots {
        rt.spawn(run(world.clone(), id, 0));
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
