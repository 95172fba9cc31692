//! The lake on a real S3-compatible server (s3proxy, started by
//! scripts/services/s3proxy.sh; endpoint and keys from the AWS_* variables
//! `s3proxy.sh env` prints): a run writes the lake to a bucket, a second
//! writer's commit is refused, `replay --lake s3://...` gives the same view
//! files as `replay` over the JSONL, and a restart restores from the bucket
//! without writing anything again.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use bytes::Bytes;
use common::test_lines;
use helixflow_sinks::lake::{LakeError, LakeReader, LakeStore, Location};
use std::path::Path;
use std::process::Command;

/// The server's settings come from the environment, as `eval "$(scripts/services/s3proxy.sh env)"`
/// (scripts/test.sh does it) sets them.
fn require_s3_env() {
    for k in ["AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(
            std::env::var_os(k).is_some(),
            "{k} is not set: start the server with scripts/services/s3proxy.sh start, then eval \"$(scripts/services/s3proxy.sh env)\""
        );
    }
}

fn helixflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_helixflow"))
}

fn run_lake(dir: &Path, input: &Path, location: &str) -> std::process::Output {
    let topology = dir.join("s3.toml");
    std::fs::write(
        &topology,
        format!(
            "version = 1\nname = \"lake-s3\"\n[engine]\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
             [[sources]]\nname = \"events\"\nkind = \"file\"\npaths = [\"{}\"]\n\
             [[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = \"{location}\"\ncommit_interval = \"100ms\"\n\
             [api]\nenabled = false\n",
            input.display()
        ),
    )
    .unwrap();
    helixflow()
        .args(["run", "--exit-when-done"])
        .arg(&topology)
        .output()
        .unwrap()
}

#[test]
fn a_lake_on_s3_commits_refuses_a_second_writer_replays_and_restores() {
    require_s3_env();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, test_lines(11, 5_000).join("\n") + "\n").unwrap();
    let prefix = format!(
        "lake-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let location = format!("s3://helixflow/{prefix}");
    let run = run_lake(dir.path(), &input, &location);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let loc = Location::parse(&location).unwrap();
    let reader = LakeReader::open(&loc, &Default::default()).unwrap();
    let commit = reader.manifest().commit;
    assert!(commit >= 1 && reader.manifest().rows > 0);

    // A second writer's commit of the same number is refused.
    let store = LakeStore::open(&loc, &Default::default()).unwrap();
    let taken = helixflow_sinks::lake::layout::manifest_path(commit);
    let again = store.put_new(&taken, Bytes::from_static(b"{}"));
    assert!(
        matches!(again, Err(LakeError::Conflict { .. })),
        "a second manifest {taken} was accepted: {again:?}"
    );

    // replay --lake from the bucket equals replay over the JSONL.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(&a)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(&b)
        .arg("--lake")
        .arg(&location)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let same = common::assert_same_view_files(&a, &b);
    assert_eq!(same, 13);

    // A restart restores from the bucket and stores nothing again.
    let run = run_lake(dir.path(), &input, &location);
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    assert!(log.contains("restoring"), "{log}");
    let after = LakeReader::open(&loc, &Default::default()).unwrap();
    assert_eq!(after.manifest().rows, reader.manifest().rows, "{log}");
    assert_eq!(after.manifest().files, reader.manifest().files);
}
