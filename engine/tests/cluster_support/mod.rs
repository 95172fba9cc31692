//! Helpers for the cluster tests (`cluster.rs`, `cluster_netns.rs`): real
//! processes of the `helixflow` binary, hostfiles of free ports, a
//! topology over files for a cluster, and reading views from an API.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(
    unused_imports,
    reason = "re-exported for the tests that use these helpers; not all need it"
)]
pub use crate::common::free_port;

/// A hostfile of `n` free ports on 127.0.0.1.
pub fn hostfile(dir: &Path, n: usize) -> (PathBuf, Vec<String>) {
    let hosts: Vec<String> = (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let path = dir.join(format!("hosts-{n}-{}", free_port()));
    std::fs::write(&path, hosts.join("\n") + "\n").unwrap();
    (path, hosts)
}

/// The dirty test input (duplicates, conflicts, malformed lines, unicode).
pub fn input(dir: &Path) -> PathBuf {
    let path = dir.join("events.jsonl");
    std::fs::write(&path, crate::common::test_lines(11, 8000).join("\n") + "\n").unwrap();
    path
}

pub fn helixflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_helixflow"))
}

/// One process's `replay` of `events` into `dir/single`: what every
/// cluster must match.
pub fn replay_single(dir: &Path, events: &Path) -> PathBuf {
    let single = dir.join("single");
    assert!(helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(&single)
        .arg(events)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    single
}

/// A topology over `paths` (followed: the sources never finish) with the
/// API on, for a cluster of `hosts`.
pub fn topology(dir: &Path, paths: &[&Path], hosts: &Path, follow: bool) -> PathBuf {
    topology_with(dir, paths, hosts, follow, "")
}

/// [`topology`] with `tail` (whole tables, e.g. a sink) appended.
pub fn topology_with(
    dir: &Path,
    paths: &[&Path],
    hosts: &Path,
    follow: bool,
    tail: &str,
) -> PathBuf {
    let list = paths
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        r#"version = 1
name = "cluster-test"
[engine]
workers = 1
epoch = "5ms"
status_interval = "0s"
[[sources]]
name = "events"
kind = "file"
paths = [{list}]
follow = {follow}
[api]
bind = "127.0.0.1:0"
# Open off loopback too: the netns test reads an API on a veth address.
auth = "none"
[cluster]
hostfile = {hosts:?}
{tail}"#,
        hosts = hosts.display().to_string()
    );
    let path = dir.join(format!("cluster-{}.toml", free_port()));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn run_process(topology: &Path, process: usize, api: SocketAddr, log: &Path) -> Child {
    run_process_in(None, topology, process, api, log)
}

/// `helixflow run` as process `process`, in network namespace `netns` if
/// given (`ip netns exec` execs it: the child is the engine itself).
pub fn run_process_in(
    netns: Option<&str>,
    topology: &Path,
    process: usize,
    api: SocketAddr,
    log: &Path,
) -> Child {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_helixflow")]);
            c
        }
        None => helixflow(),
    };
    command
        .arg("run")
        .arg(topology)
        .args(["--api", &api.to_string()])
        .env("HELIXFLOW_PROCESS", process.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// A 200 reply from `addr`, or `None` while it is not serving yet (no
/// listener, a closed connection, or no HTTP reply).
pub fn get(addr: SocketAddr, target: &str) -> Option<crate::common::http::Reply> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    crate::common::http::try_get(addr, target).filter(|reply| reply.status == 200)
}

/// `view` as `api` serves it (NDJSON, as the view files are written),
/// once it has `rows` rows.
pub fn view_text(api: SocketAddr, view: &str, rows: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(reply) = get(api, &format!("/v1/views/{view}")) {
            let text = reply.body;
            if text.lines().count() == rows {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{api}: {view} never had {rows} rows"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
