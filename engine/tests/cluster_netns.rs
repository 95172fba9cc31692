//! A link between two cluster processes cut, with real network namespaces
//! (as root, `ip netns`): process 0 runs in this namespace, process 1 in
//! one of its own, joined by a veth pair. Once the views reflect the input
//! (and the lake has it), the link goes down: both processes stop within
//! the TCP user timeout with exit 3 and one message naming the other, and
//! a restart of both from the lake gives the views one process computes.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod cluster_support;
mod common;

use cluster_support::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `ip ARGS...`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("running `ip`: {e}; this test needs iproute2 and root (network namespaces)")
    });
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root: it creates network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `ip ARGS...` for a clean-up that may find nothing to remove.
fn quietly(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A network namespace joined to this one by a veth pair: this side
/// `10.N.M.1/30` on `outer`, the namespace's `10.N.M.2/30`. Removed on drop.
struct Netns {
    name: String,
    outer: String,
    inner: String,
    here: String,
    there: String,
}

impl Netns {
    fn new() -> Netns {
        let id = std::process::id() % 60_000;
        let name = format!("hf-test-{id}");
        let (outer, inner) = (format!("hfo{id}"), format!("hfi{id}"));
        let net = format!("10.{}.{}", 200 + id % 50, (id / 50) % 250);
        let (here, there) = (format!("{net}.1"), format!("{net}.2"));
        // Left over from an interrupted run with the same pid: start clean.
        quietly(&["netns", "del", &name]);
        quietly(&["link", "del", &outer]);
        ip(&["netns", "add", &name]);
        let ns = Netns {
            name,
            outer,
            inner,
            here,
            there,
        };
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ip(&[
            "link", "add", &ns.outer, "type", "veth", "peer", "name", &ns.inner,
        ]);
        ip(&["link", "set", &ns.inner, "netns", &ns.name]);
        ip(&["addr", "add", &format!("{}/30", ns.here), "dev", &ns.outer]);
        ip(&["link", "set", &ns.outer, "up"]);
        ip(&[
            "netns",
            "exec",
            &ns.name,
            "ip",
            "addr",
            "add",
            &format!("{}/30", ns.there),
            "dev",
            &ns.inner,
        ]);
        ip(&[
            "netns", "exec", &ns.name, "ip", "link", "set", &ns.inner, "up",
        ]);
        ns
    }

    /// Cuts the link: the namespace's side goes down, this side loses its carrier.
    fn cut(&self) {
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.inner,
            "down",
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        quietly(&["netns", "del", &self.name]);
        // Deleting the namespace removes the pair; this covers a half-made one.
        quietly(&["link", "del", &self.outer]);
    }
}

/// Waits until `api` serves every view in `views` as `expected` has them.
fn assert_views(api: SocketAddr, expected: &std::path::Path, views: &[&str]) {
    for view in views {
        let want = std::fs::read_to_string(expected.join(format!("{view}.jsonl"))).unwrap();
        let served = view_text(api, view, want.lines().count());
        assert!(
            served == want,
            "{view} from {api}: not what one process computes"
        );
    }
}

const VIEWS: [&str; 4] = [
    "entity_cooccurrence",
    "conversation_snapshots",
    "memory_state",
    "provider_stats",
];

#[test]
fn a_cut_link_stops_both_processes_naming_each_other_and_a_restart_restores_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let single = replay_single(dir.path(), &events);
    let lake = dir.path().join("lake");
    let lake_sink = format!(
        "[[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = {:?}\ncommit_interval = \"100ms\"\n",
        lake.display().to_string()
    );

    let ns = Netns::new();
    let addresses = [
        format!("{}:{}", ns.here, free_port()),
        format!("{}:{}", ns.there, free_port()),
    ];
    let hosts = dir.path().join("hosts-netns");
    std::fs::write(&hosts, addresses.join("\n") + "\n").unwrap();
    let topology = topology_with(dir.path(), &[&events], &hosts, true, &lake_sink);
    let apis: [SocketAddr; 2] = [
        format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        format!("{}:{}", ns.there, free_port()).parse().unwrap(),
    ];
    let logs: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("n{i}.log")))
        .collect();
    let mut children = [
        run_process_in(None, &topology, 0, apis[0], &logs[0]),
        run_process_in(Some(&ns.name), &topology, 1, apis[1], &logs[1]),
    ];
    for api in &apis {
        assert_views(*api, &single, &VIEWS);
    }
    // The lake commits every 100 ms: let it take in the last epochs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::files_under(&lake)
        .iter()
        .all(|f| !f.contains("manifest"))
    {
        assert!(Instant::now() < deadline, "the lake never committed");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));

    let cut_at = Instant::now();
    ns.cut();
    for (i, child) in children.iter_mut().enumerate() {
        let peer = 1 - i;
        common::assert_stops_naming(child, i, &logs[i], peer, &addresses[peer]);
    }
    let stopped_after = cut_at.elapsed();
    drop(ns);

    // Restart both, on loopback now, from the lake and the same input.
    let (hosts, _) = hostfile(dir.path(), 2);
    let topology = topology_with(dir.path(), &[&events], &hosts, true, &lake_sink);
    let apis: Vec<SocketAddr> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let mut children: Vec<_> = (0..2)
        .map(|i| run_process(&topology, i, apis[i], &dir.path().join(format!("r{i}.log"))))
        .collect();
    for api in &apis {
        assert_views(*api, &single, &VIEWS);
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "link cut: both processes stopped {:.1} s after the cut",
        stopped_after.as_secs_f64()
    );
}
