//! Cluster mode: connecting this process to its peers and handing the
//! connections to timely, and noticing when a peer is lost.
//!
//! Timely carries every byte between processes (its exchange channels and
//! progress messages); this module only opens the connections, the way
//! timely's own `create_sockets` does (connect to lower indexes, accept from
//! higher ones), with three additions a long-running service needs:
//!
//! - a handshake that checks both ends describe the same cluster (the
//!   process count, the addresses and the worker count), so a mistyped
//!   hostfile is refused naming the peer rather than running a wrong
//!   dataflow;
//! - a deadline for the peers to appear, with a message naming the ones
//!   that did not;
//! - TCP keepalive and a user timeout on every connection, so a cut link
//!   (no FIN, no RST: a pulled cable, a dropped route) surfaces as an error
//!   within `peer_timeout` instead of a hang.
//!
//! A timely cluster cannot lose a member and go on. When a connection
//! fails, timely's send or receive thread for that peer panics; the panic
//! hook installed by [`watch_peers`] records which peer it was (from the
//! thread's name, `timely:recv-{peer}`), waits a moment for the other
//! connections that fail with it (so the message names every peer gone,
//! the first cause included), keeps the cascade of worker panics that
//! follows off stderr, and [`lost_peer`] tells the engine's main loop to
//! stop with that message.

use helixflow_types::topology::Cluster;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;

/// The exit code of a process that stopped because a peer was lost.
pub const EXIT_PEER_LOST: i32 = 3;

const MAGIC: &[u8; 8] = b"HFLXCLU1";

/// Timeouts of a cluster's connections.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for every peer at start.
    pub connect: Duration,
    /// How long a silent or unacknowledging connection is tolerated.
    pub peer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(60),
            peer: Duration::from_secs(5),
        }
    }
}

/// Why the cluster could not be formed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("process {process} cannot listen on {address}: {source}")]
    Listen {
        process: usize,
        address: String,
        source: std::io::Error,
    },
    #[error("no connection from process(es) {missing} within {timeout:?} (is every process started with the same hostfile?)")]
    Timeout { missing: String, timeout: Duration },
    #[error("process {peer} ({address}) describes another cluster: {what}")]
    Mismatch {
        peer: usize,
        address: String,
        what: String,
    },
    #[error("connection with process {peer} ({address}): {source}")]
    Io {
        peer: usize,
        address: String,
        source: std::io::Error,
    },
    #[error("timely refused the connections: {0}")]
    Timely(String),
}

/// What a process tells a peer it connects to.
struct Hello {
    process: u64,
    processes: u64,
    threads: u64,
    digest: u64,
}

impl Hello {
    fn of(cluster: &Cluster, threads: usize) -> Hello {
        let joined = cluster.addresses.join("\n");
        Hello {
            process: cluster.process as u64,
            processes: cluster.processes() as u64,
            threads: threads as u64,
            digest: xxhash_rust::xxh3::xxh3_64(joined.as_bytes()),
        }
    }

    fn bytes(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(MAGIC);
        for (i, v) in [self.process, self.processes, self.threads, self.digest]
            .iter()
            .enumerate()
        {
            b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    fn parse(b: &[u8; 40]) -> Option<Hello> {
        if &b[..8] != MAGIC {
            return None;
        }
        let at = |i: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[8 + 8 * i..16 + 8 * i]);
            u64::from_be_bytes(v)
        };
        Some(Hello {
            process: at(0),
            processes: at(1),
            threads: at(2),
            digest: at(3),
        })
    }

    /// How `other` differs from this (None: the same cluster).
    fn differs(&self, other: &Hello) -> Option<String> {
        if other.processes != self.processes {
            Some(format!(
                "{} processes there, {} here",
                other.processes, self.processes
            ))
        } else if other.threads != self.threads {
            Some(format!(
                "{} workers per process there, {} here (give every process the same -w)",
                other.threads, self.threads
            ))
        } else if other.digest != self.digest {
            Some("its list of addresses differs from this one's".to_owned())
        } else {
            None
        }
    }
}

/// Sets the timeouts that turn a cut link into an error.
fn arm(stream: &TcpStream, timeouts: Timeouts) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    let probe = (timeouts.peer / 5).max(Duration::from_secs(1));
    socket.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(probe)
            .with_interval(probe)
            .with_retries(3),
    )?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(timeouts.peer))?;
    Ok(())
}

/// Connects this process with every peer; one socket per peer, in process
/// order, `None` at this process's own place (what timely expects).
fn connect_all(
    cluster: &Cluster,
    threads: usize,
    timeouts: Timeouts,
) -> Result<Vec<Option<TcpStream>>, ConnectError> {
    let me = cluster.process;
    let hello = Hello::of(cluster, threads);
    let deadline = Instant::now() + timeouts.connect;
    let mut sockets: Vec<Option<TcpStream>> = (0..cluster.processes()).map(|_| None).collect();
    let own = cluster.address(me).to_owned();
    let listener = if me + 1 < cluster.processes() {
        let listener = TcpListener::bind(&own).map_err(|source| ConnectError::Listen {
            process: me,
            address: own.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ConnectError::Listen {
                process: me,
                address: own.clone(),
                source,
            })?;
        Some(listener)
    } else {
        None
    };
    let io = |peer: usize| {
        let address = cluster.address(peer).to_owned();
        move |source| ConnectError::Io {
            peer,
            address,
            source,
        }
    };
    loop {
        let missing: Vec<usize> = (0..cluster.processes())
            .filter(|p| *p != me && sockets[*p].is_none())
            .collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let missing = missing
                .iter()
                .map(|p| format!("{p} ({})", cluster.address(*p)))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ConnectError::Timeout {
                missing,
                timeout: timeouts.connect,
            });
        }
        let mut progressed = false;
        // Lower indexes: this process connects.
        for peer in missing.iter().copied().filter(|p| *p < me) {
            let Some(stream) = dial(cluster.address(peer)) else {
                continue;
            };
            arm(&stream, timeouts).map_err(io(peer))?;
            let mut stream = stream;
            stream.write_all(&hello.bytes()).map_err(io(peer))?;
            let mut answer = [0u8; 40];
            stream.read_exact(&mut answer).map_err(io(peer))?;
            check(&hello, &answer, peer, cluster)?;
            stream.set_read_timeout(None).map_err(io(peer))?;
            sockets[peer] = Some(stream);
            progressed = true;
        }
        // Higher indexes: they connect here.
        if let Some(listener) = &listener {
            while let Ok((stream, _)) = listener.accept() {
                stream.set_nonblocking(false).map_err(io(me))?;
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .map_err(io(me))?;
                let mut stream = stream;
                let mut greeting = [0u8; 40];
                if stream.read_exact(&mut greeting).is_err() {
                    continue;
                }
                let Some(theirs) = Hello::parse(&greeting) else {
                    continue;
                };
                let peer = theirs.process as usize;
                if peer <= me || peer >= cluster.processes() {
                    return Err(ConnectError::Mismatch {
                        peer,
                        address: cluster.address(peer).to_owned(),
                        what: format!(
                            "it says it is process {peer}, which must not connect to process {me}"
                        ),
                    });
                }
                // Answer first, so a mismatched peer can say so too.
                stream.write_all(&hello.bytes()).map_err(io(peer))?;
                check(&hello, &greeting, peer, cluster)?;
                arm(&stream, timeouts).map_err(io(peer))?;
                stream.set_read_timeout(None).map_err(io(peer))?;
                sockets[peer] = Some(stream);
                progressed = true;
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(sockets)
}

/// A connection to `address`, if it can be had now.
fn dial(address: &str) -> Option<TcpStream> {
    let addr = address.to_socket_addrs().ok()?.next()?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    Some(stream)
}

fn check(
    mine: &Hello,
    theirs: &[u8; 40],
    peer: usize,
    cluster: &Cluster,
) -> Result<(), ConnectError> {
    let mismatch = |what: String| ConnectError::Mismatch {
        peer,
        address: cluster.address(peer).to_owned(),
        what,
    };
    let theirs =
        Hello::parse(theirs).ok_or_else(|| mismatch("it is not a Helixflow process".into()))?;
    if theirs.process as usize != peer {
        return Err(mismatch(format!(
            "it says it is process {}",
            theirs.process
        )));
    }
    match mine.differs(&theirs) {
        Some(what) => Err(mismatch(what)),
        None => Ok(()),
    }
}

/// The allocators of this process's `threads` workers, connected to every
/// peer of `cluster` (blocks until all are connected, or the deadline).
pub fn allocators(
    cluster: &Cluster,
    threads: usize,
    timeouts: Timeouts,
) -> Result<(Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>), ConnectError> {
    let sockets = connect_all(cluster, threads, timeouts)?;
    let hooks = Hooks::default();
    let process =
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(process, sockets, cluster.process, threads, hooks)
            .map_err(|e| ConnectError::Timely(e.to_string()))?;
    Ok((
        builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
        Box::new(guard),
    ))
}

/// Which peers were lost, and how (set once, by the panic hook).
static LOST: OnceLock<String> = OnceLock::new();

/// Every connection failure seen, in order ("lost process I (ADDRESS): CAUSE").
static LOSSES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How long the first failure waits for others before the process exits:
/// a killed peer's connections all close at once, and a peer that stops
/// because of it closes its own a few milliseconds later, so the message
/// names every peer that is gone, the killed one included, whichever
/// connection this process happened to notice first.
const LOSS_GRACE: Duration = Duration::from_millis(300);

/// Installs the panic hook that turns the failure of a connection into
/// [`lost_peer`]'s message (once per process).
pub fn watch_peers(cluster: &Cluster) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let addresses = cluster.addresses.clone();
    INSTALLED.get_or_init(move || {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            let peer = name
                .strip_prefix("timely:recv-")
                .or_else(|| name.strip_prefix("timely:send-"));
            let running = !STOPPING.load(Ordering::Acquire);
            if let Some(peer) = peer {
                let cause = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let cause = cause
                    .strip_prefix("timely communication error: ")
                    .unwrap_or(&cause)
                    .to_owned();
                let address = peer
                    .parse::<usize>()
                    .ok()
                    .and_then(|p| addresses.get(p))
                    .map_or("?", String::as_str);
                let entry = format!("lost process {peer} ({address}): {cause}");
                let first = {
                    let mut losses = LOSSES.lock().unwrap_or_else(|e| e.into_inner());
                    if !losses.contains(&entry) {
                        losses.push(entry);
                    }
                    losses.len() == 1 && LOST.get().is_none()
                };
                if !first {
                    return park_while_running(running);
                }
                if running {
                    std::thread::sleep(LOSS_GRACE);
                }
                let lost = LOST
                    .get_or_init(|| LOSSES.lock().unwrap_or_else(|e| e.into_inner()).join("; "));
                // While running, stop here: unwinding workers that fail on
                // the poisoned channels can panic again in their destructors
                // and abort the process without its message.
                if running {
                    exit_peer_lost(lost);
                }
                return;
            }
            // After a loss every worker fails on the poisoned channels:
            // one message says what happened, not one per thread.
            if !LOSSES.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                return park_while_running(running);
            }
            previous(info);
        }));
    });
}

/// While the process runs (it exits within [`LOSS_GRACE`]), a thread that
/// fails after a loss waits here instead of unwinding: a second panic in a
/// destructor would abort the process before its message.
fn park_while_running(running: bool) {
    if running {
        loop {
            std::thread::park();
        }
    }
}

/// Set once this process stops in order (its engine shutting down): a
/// connection failing after that is recorded, not a reason to exit 3.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Declares that this process is stopping in order: from now on a peer
/// leaving is expected.
pub fn stopping() {
    STOPPING.store(true, Ordering::Release);
}

/// The message naming the lost peer, once a connection has failed.
pub fn lost_peer() -> Option<&'static str> {
    LOST.get().map(String::as_str)
}

/// Stops this process because a peer is gone: what happened, what the
/// operator does next, and the exit code a supervisor restarts on.
pub fn exit_peer_lost(message: &str) -> ! {
    // The loss watcher and the main loop may both get here: one message,
    // one exit; a later caller waits for the exit under way.
    static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if EXITING.swap(true, std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    eprintln!(
        "error: cluster: {message}; stopping this process (a timely cluster cannot go on without a member). \
         Restart every process: the views are rebuilt from the lake or Kafka, and nothing was committed past what they covered."
    );
    std::process::exit(EXIT_PEER_LOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(process: usize, ports: &[u16]) -> Cluster {
        Cluster {
            process,
            addresses: ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        }
    }

    fn free_ports(n: usize) -> Vec<u16> {
        let listeners: Vec<_> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect()
    }

    #[test]
    fn three_processes_connect_each_to_every_other() {
        let ports = free_ports(3);
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let c = cluster(i, &ports);
                std::thread::spawn(move || connect_all(&c, 2, Timeouts::default()))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let sockets = h.join().unwrap().unwrap();
            assert_eq!(sockets.len(), 3);
            for (p, s) in sockets.iter().enumerate() {
                assert_eq!(s.is_none(), p == i, "process {i}, socket {p}");
            }
        }
    }

    #[test]
    fn a_missing_peer_is_named_after_the_deadline() {
        let ports = free_ports(2);
        let timeouts = Timeouts {
            connect: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let e = connect_all(&cluster(1, &ports), 1, timeouts).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("process(es) 0 (127.0.0.1:{})", ports[0])),
            "{text}"
        );
    }

    #[test]
    fn a_peer_with_other_settings_is_refused() {
        let ports = free_ports(2);
        let c0 = cluster(0, &ports);
        let first = std::thread::spawn(move || connect_all(&c0, 2, Timeouts::default()));
        let c1 = cluster(1, &ports);
        let second = connect_all(&c1, 3, Timeouts::default()).unwrap_err();
        let first = first.join().unwrap().unwrap_err();
        for e in [first, second] {
            assert!(e.to_string().contains("workers per process"), "{e}");
        }
    }
}
