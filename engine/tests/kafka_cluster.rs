//! A 3-process cluster over the real broker of `scripts/services/kafka.sh`
//! and a lake on a directory every process shares: the partitions are dealt
//! out over the processes, the API of each process serves the views of all
//! the input, each process commits the offsets it read once the lake has
//! them, a killed process stops the others naming it, and a restart of
//! the cluster (from the lake and Kafka) gives the views of every event.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use kafka_support::{fresh_topics, kafka_topology_text, produce, replay_views, unique};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROCESSES: usize = 3;

struct Cluster {
    topology: PathBuf,
    apis: Vec<SocketAddr>,
    addresses: Vec<String>,
    dir: PathBuf,
}

impl Cluster {
    fn new(dir: &Path, text: &str) -> Cluster {
        let port = kafka_support::free_port;
        let addresses: Vec<String> = (0..PROCESSES)
            .map(|_| format!("127.0.0.1:{}", port()))
            .collect();
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, addresses.join("\n") + "\n").unwrap();
        let topology = dir.join("cluster.toml");
        std::fs::write(
            &topology,
            format!(
                "{text}\n[cluster]\nhostfile = {:?}\n",
                hosts.display().to_string()
            ),
        )
        .unwrap();
        let apis = (0..PROCESSES)
            .map(|_| format!("127.0.0.1:{}", port()).parse().unwrap())
            .collect();
        Cluster {
            topology,
            apis,
            addresses,
            dir: dir.to_path_buf(),
        }
    }

    fn log(&self, round: &str, i: usize) -> PathBuf {
        self.dir.join(format!("{round}-{i}.log"))
    }

    fn start(&self, round: &str) -> Vec<Child> {
        (0..PROCESSES)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_helixflow"))
                    .arg("run")
                    .arg(&self.topology)
                    .args(["--api", &self.apis[i].to_string()])
                    .env("HELIXFLOW_PROCESS", i.to_string())
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(self.log(round, i)).unwrap())
                    .spawn()
                    .unwrap()
            })
            .collect()
    }
}

fn get(addr: SocketAddr, target: &str) -> Option<String> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    let reply = common::http::get(addr, target);
    (reply.status == 200).then_some(reply.body)
}

/// `replay` of `lines` in a new directory `name` under `dir`.
fn expected_views(lines: &[String], dir: &Path, name: &str) -> BTreeMap<String, String> {
    let at = dir.join(name);
    std::fs::create_dir_all(&at).unwrap();
    replay_views(lines, &at).0
}

/// Waits until `api` serves exactly `want` for every view.
fn wait_views(api: SocketAddr, want: &BTreeMap<String, String>, logs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut differing = String::new();
    while Instant::now() < deadline {
        differing = want
            .iter()
            .filter(|(view, text)| get(api, &format!("/v1/views/{view}")).as_ref() != Some(text))
            .map(|(view, _)| view.clone())
            .collect::<Vec<_>>()
            .join(", ");
        if differing.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    panic!("{api}: views {differing} never equal replay's; logs: {logs:#?}");
}

/// Waits until the group has committed every partition's end offset.
fn wait_committed(topics: &[&str], group: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind: Vec<_> = kafka_support::committed_and_end(topics, group)
            .into_iter()
            .filter(|(_, _, committed, end)| committed != end)
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "offsets not committed: {behind:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(children: &mut [Child]) {
    for c in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn a_three_process_cluster_over_kafka_and_a_shared_lake_survives_a_killed_member() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("cluster");
    let group = unique("cluster-group");
    let lake = dir.path().join("lake");
    let tail = format!(
        "[[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = {:?}\ncommit_interval = \"200ms\"\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        lake.display().to_string()
    );
    // One worker per process: three processes share the 2 cores.
    let text = kafka_topology_text(&topics, &group, "", &tail)
        .replace("[engine]\n", "[engine]\nworkers = 1\n");
    let cluster = Cluster::new(dir.path(), &text);
    let first = common::test_lines(21, 6000);
    assert_eq!(produce(&topics, &first), first.len() as u64);
    let want = expected_views(&first, dir.path(), "replay-1");

    let mut children = cluster.start("first");
    let logs: Vec<PathBuf> = (0..PROCESSES).map(|i| cluster.log("first", i)).collect();
    for api in &cluster.apis {
        wait_views(*api, &want, &logs);
    }
    let names: Vec<&str> = topics.by_kind().iter().map(|(_, n)| *n).collect();
    wait_committed(&names, &group);
    // The partitions are dealt out: each process holds some, none twice.
    let mut held = Vec::new();
    for api in &cluster.apis {
        let health: serde_json::Value =
            serde_json::from_str(&get(*api, "/v1/health").unwrap()).unwrap();
        let mine: Vec<String> = health["kafka"][0]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}/{}", p["topic"], p["partition"]))
            .collect();
        assert!(!mine.is_empty(), "{api} holds no partition: {health}");
        held.extend(mine);
    }
    let total = held.len();
    held.sort();
    held.dedup();
    assert_eq!(held.len(), total, "a partition held twice: {held:?}");
    assert_eq!(
        total,
        3 + 5 * 2,
        "every partition of the six topics: {held:?}"
    );

    // One member is killed: the others stop, naming it.
    common::kill_and_assert_others_stop(&mut children, 1, &logs, &cluster.addresses);

    // More events while the cluster is down; then the whole cluster again.
    let second = common::test_lines(22, 3000);
    produce(&topics, &second);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let want_all = expected_views(&all, dir.path(), "replay-2");
    let mut children = cluster.start("second");
    let logs: Vec<PathBuf> = (0..PROCESSES).map(|i| cluster.log("second", i)).collect();
    for api in &cluster.apis {
        wait_views(*api, &want_all, &logs);
    }
    wait_committed(&names, &group);
    let restored = logs
        .iter()
        .filter(|l| std::fs::read_to_string(l).unwrap().contains("restore done"))
        .count();
    assert_eq!(
        restored, PROCESSES,
        "every process restored its share of the lake"
    );
    stop(&mut children);
}
