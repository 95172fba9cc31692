//! Cluster mode on 127.0.0.1, with real processes of the `helixflow`
//! binary: replay as 1, 2 and 3 processes gives byte-identical files; the
//! API of every process of a running cluster answers for the whole
//! cluster; a killed process stops the others with a message naming it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod cluster_support;
mod common;

use cluster_support::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn every_process_api_answers_for_the_whole_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let single = replay_single(dir.path(), &events);
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

#[test]
fn a_process_whose_api_cannot_start_says_why_and_the_others_stop() {
    let dir = tempfile::tempdir().unwrap();
    let events = input(dir.path());
    let (hosts, addresses) = hostfile(dir.path(), 2);
    let topology = topology(dir.path(), &[&events], &hosts, true);
    // Process 1's API address is taken: it fails after its engine started.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let apis: Vec<SocketAddr> = vec![
        format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        taken.local_addr().unwrap(),
    ];
    let logs: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("a{i}.log")))
        .collect();
    let mut children: Vec<Child> = (0..2)
        .map(|i| run_process(&topology, i, apis[i], &logs[i]))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = children[1].try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "process 1 hung after its API failed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&logs[1]).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("starting the API"), "{log}");
    common::assert_stops_naming(&mut children[0], 0, &logs[0], 1, &addresses[1]);
}
