//! Cluster mode on 127.0.0.1, with real processes of the `helixflow`
//! binary: replay as 1, 2 and 3 processes gives byte-identical files; the
//! API of every process of a running cluster answers for the whole
//! cluster; a killed process stops the others with a message naming it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hostfile of `n` free ports on 127.0.0.1.
fn hostfile(dir: &Path, n: usize) -> (PathBuf, Vec<String>) {
    let hosts: Vec<String> = (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let path = dir.join(format!("hosts-{n}-{}", free_port()));
    std::fs::write(&path, hosts.join("\n") + "\n").unwrap();
    (path, hosts)
}

/// The dirty test input (duplicates, conflicts, malformed lines, unicode).
fn input(dir: &Path) -> PathBuf {
    let path = dir.join("events.jsonl");
    std::fs::write(&path, common::test_lines(11, 8000).join("\n") + "\n").unwrap();
    path
}

fn helixflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_helixflow"))
}

/// `replay` as `processes` processes of `workers` workers each, into `out`.
fn replay_cluster(input: &Path, out: &Path, processes: usize, workers: usize, dir: &Path) {
    let (hosts, _) = hostfile(dir, processes);
    let children: Vec<(usize, Child)> = (0..processes)
        .map(|i| {
            let child = helixflow()
                .args(["replay", "--quiet", "-w", &workers.to_string()])
                .args(["--processes", &processes.to_string()])
                .args(["--process", &i.to_string()])
                .arg("--hostfile")
                .arg(&hosts)
                .arg("--out")
                .arg(out)
                .arg(input)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "process {i} of {processes} failed: {log}"
        );
        if i > 0 {
            assert!(log.contains("process 0 wrote the views"), "{log}");
        }
    }
}

#[test]
fn replay_as_one_two_and_three_processes_writes_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let single = dir.path().join("single");
    let status = helixflow()
        .args(["replay", "--quiet", "-w", "2", "--out"])
        .arg(&single)
        .arg(&events)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for (processes, workers) in [(2, 1), (3, 1), (2, 2)] {
        let out = dir.path().join(format!("cluster-{processes}x{workers}"));
        replay_cluster(&events, &out, processes, workers, dir.path());
        let views = common::assert_same_view_files(&single, &out);
        assert_eq!(views, 13, "{processes}x{workers}: every view file");
        assert_eq!(
            std::fs::read_to_string(single.join("rejected.json")).unwrap(),
            std::fs::read_to_string(out.join("rejected.json")).unwrap(),
            "{processes}x{workers}: the rejections and duplicates of every process"
        );
    }
    // And the files are right, not only alike.
    let lines = common::test_lines(11, 8000);
    let expected = common::oracle(&common::distinct_events(&lines));
    for view in [
        "entity_cooccurrence",
        "conversation_snapshots",
        "provider_stats",
    ] {
        let text =
            std::fs::read_to_string(dir.path().join("cluster-3x1").join(format!("{view}.jsonl")))
                .unwrap();
        common::assert_view_matches(view, &text, &expected[view]);
    }
}

/// A topology over `paths` (followed: the sources never finish) with the
/// API on, for a cluster of `hosts`.
fn topology(dir: &Path, paths: &[&Path], hosts: &Path, follow: bool) -> PathBuf {
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
[cluster]
hostfile = {hosts:?}
"#,
        hosts = hosts.display().to_string()
    );
    let path = dir.join(format!("cluster-{}.toml", free_port()));
    std::fs::write(&path, text).unwrap();
    path
}

fn run_process(topology: &Path, process: usize, api: SocketAddr, log: &Path) -> Child {
    helixflow()
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

fn get(addr: SocketAddr, target: &str) -> Option<common::http::Reply> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    let reply = common::http::get(addr, target);
    (reply.status == 200).then_some(reply)
}

/// `view` as `api` serves it (NDJSON, as the view files are written),
/// once it has `rows` rows.
fn view_text(api: SocketAddr, view: &str, rows: usize) -> String {
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

#[test]
fn every_process_api_answers_for_the_whole_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let single = dir.path().join("single");
    assert!(helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(&single)
        .arg(&events)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let (hosts, _) = hostfile(dir.path(), 2);
    let topology = topology(dir.path(), &[&events], &hosts, false);
    let apis: Vec<SocketAddr> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let mut children: Vec<Child> = (0..2)
        .map(|i| run_process(&topology, i, apis[i], &dir.path().join(format!("p{i}.log"))))
        .collect();
    for view in [
        "entity_cooccurrence",
        "conversation_snapshots",
        "memory_state",
        "entity_directory",
    ] {
        let expected = std::fs::read_to_string(single.join(format!("{view}.jsonl"))).unwrap();
        let rows = expected.lines().count();
        for api in &apis {
            let served = view_text(*api, view, rows);
            assert!(
                served == expected,
                "{view} from {api}: not what one process computes"
            );
        }
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_killed_process_stops_the_others_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let (hosts, addresses) = hostfile(dir.path(), 3);
    let topology = topology(dir.path(), &[&events], &hosts, true);
    let apis: Vec<SocketAddr> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let logs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("k{i}.log")))
        .collect();
    let mut children: Vec<Child> = (0..3)
        .map(|i| run_process(&topology, i, apis[i], &logs[i]))
        .collect();
    // Running: the views reflect the input on every process.
    let conversations = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"type\":\"message\""))
        .count();
    assert!(conversations > 0);
    for api in &apis {
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(*api, "/v1/views/conversation_snapshots").is_none_or(|r| r.body.is_empty()) {
            assert!(Instant::now() < deadline, "{api} never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    common::kill_and_assert_others_stop(&mut children, 1, &logs, &addresses);
}
