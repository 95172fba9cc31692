//! A damaged lake gets a clear error naming the file, never a partial
//! state: a lake is written by a real engine run (file source, lake sink),
//! then copies of it are damaged — a torn data file, a manifest pointing at
//! a missing file, a foreign file, a torn manifest — and `replay --lake`
//! and a restart of `run` on each copy fail naming the file. The intact
//! lake replays to view files byte-identical to `replay` over the JSONL.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use common::test_lines;
use std::path::{Path, PathBuf};
use std::process::Command;

fn helixflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_helixflow"))
}

/// Runs `helixflow run` over `input` with a lake sink at `lake` until done.
fn write_lake(dir: &Path, input: &Path, lake: &Path) -> std::process::Output {
    let topology = dir.join(format!(
        "{}.toml",
        lake.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &topology,
        format!(
            "version = 1\nname = \"lake-damage\"\n[engine]\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
             [[sources]]\nname = \"events\"\nkind = \"file\"\npaths = [\"{}\"]\n\
             [[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = \"{}\"\ncommit_interval = \"100ms\"\n\
             [api]\nenabled = false\n",
            input.display(),
            lake.display()
        ),
    )
    .unwrap();
    helixflow()
        .args(["run", "--exit-when-done"])
        .arg(&topology)
        .output()
        .unwrap()
}

fn replay_lake(lake: &Path, out: &Path) -> std::process::Output {
    helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(out)
        .arg("--lake")
        .arg(lake)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn data_files(lake: &Path) -> Vec<PathBuf> {
    common::files_under(lake)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .map(|p| lake.join(p))
        .collect()
}

fn latest_manifest(lake: &Path) -> PathBuf {
    let mut m: Vec<PathBuf> = std::fs::read_dir(lake.join("_helixflow"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    m.sort();
    m.pop().unwrap()
}

#[test]
fn a_damaged_lake_is_refused_naming_the_file_and_an_intact_one_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, test_lines(5, 6_000).join("\n") + "\n").unwrap();
    let lake = dir.path().join("lake");
    let run = write_lake(dir.path(), &input, &lake);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Intact: replay --lake equals replay over the JSONL, file for file.
    let (from_lines, from_lake) = (dir.path().join("r-lines"), dir.path().join("r-lake"));
    let out = helixflow()
        .args(["replay", "--quiet", "--out"])
        .arg(&from_lines)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = replay_lake(&lake, &from_lake);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let views = common::assert_same_view_files(&from_lines, &from_lake);
    assert_eq!(views, 13);

    // Each damage, on its own copy of the lake.
    type Damage = fn(&Path) -> String;
    let damages: [(&str, Damage); 4] = [
        ("a torn data file", |l| {
            let f = data_files(l).pop().unwrap();
            let bytes = std::fs::read(&f).unwrap();
            std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
            f.strip_prefix(l).unwrap().display().to_string()
        }),
        ("a manifest pointing at a missing file", |l| {
            let f = data_files(l).remove(0);
            std::fs::remove_file(&f).unwrap();
            f.strip_prefix(l).unwrap().display().to_string()
        }),
        ("a foreign file", |l| {
            let f = l.join("message/year=2026/month=01/day=30/notes.parquet");
            std::fs::write(&f, b"not ours").unwrap();
            "message/year=2026/month=01/day=30/notes.parquet".to_owned()
        }),
        ("a torn manifest", |l| {
            let m = latest_manifest(l);
            let text = std::fs::read(&m).unwrap();
            std::fs::write(&m, &text[..text.len() / 3]).unwrap();
            m.strip_prefix(l).unwrap().display().to_string()
        }),
    ];
    for (i, (what, damage)) in damages.into_iter().enumerate() {
        let copy = dir.path().join(format!("damaged-{i}"));
        copy_dir(&lake, &copy);
        let named = damage(&copy);
        let out = replay_lake(&copy, &dir.path().join(format!("out-{i}")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: replay --lake succeeded");
        assert!(
            err.contains(&named),
            "{what}: the error does not name {named}: {err}"
        );
        assert!(
            !dir.path()
                .join(format!("out-{i}"))
                .join("conversation_snapshots.jsonl")
                .exists(),
            "{what}: views were written from a damaged lake"
        );
        // A restart of the engine on it refuses to start.
        let run = write_lake(dir.path(), &input, &copy);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success(),
            "{what}: run started on a damaged lake"
        );
        assert!(
            err.contains(&named),
            "{what}: run does not name {named}: {err}"
        );
    }
}
