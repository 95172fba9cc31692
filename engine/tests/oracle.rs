//! Oracle tests: `helixflow replay` against the contract computed the slow,
//! obvious way in the test; and the same input reordered, split into files,
//! cut into different epochs and run on different worker counts must give
//! byte-identical view files.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use common::{assert_view_matches, distinct_events, oracle, test_lines};
use helixflow_engine::replay::{replay, ReplayInput, ReplaySpec};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use helixflow_types::topology::VIEW_NAMES as VIEWS;

fn write_files(dir: &Path, lines: &[String], parts: usize) -> Vec<PathBuf> {
    let per = lines.len().div_ceil(parts.max(1));
    lines
        .chunks(per.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let path = dir.join(format!("events-{i}.jsonl"));
            std::fs::write(&path, chunk.join("\n") + "\n").unwrap();
            path
        })
        .collect()
}

fn run_replay(
    files: Vec<PathBuf>,
    out: &Path,
    workers: usize,
    epoch_lines: u64,
) -> BTreeMap<String, String> {
    replay(ReplaySpec {
        input: ReplayInput::Files(files),
        out: out.to_path_buf(),
        workers,
        epoch_lines,
        progress: false,
        views: helixflow_operators::views::ViewSet::all(),
        cluster: None,
        timeouts: Default::default(),
    })
    .unwrap();
    let mut files = BTreeMap::new();
    for v in VIEWS
        .iter()
        .map(|v| v.to_string())
        .chain(["rejected".to_string()])
    {
        let ext = if v == "rejected" { "json" } else { "jsonl" };
        files.insert(
            v.clone(),
            std::fs::read_to_string(out.join(format!("{v}.{ext}"))).unwrap(),
        );
    }
    files
}

#[test]
fn replay_equals_the_oracle_on_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let lines = test_lines(11, 6000);
    let files = write_files(dir.path(), &lines, 1);
    let got = run_replay(files, &dir.path().join("out"), 2, 500);
    let expected = oracle(&distinct_events(&lines));
    for view in VIEWS {
        assert!(
            !expected[view].is_empty(),
            "{view}: the test input must exercise the view"
        );
        assert_view_matches(view, &got[view], &expected[view]);
    }
    for view in VIEWS {
        assert_rows_fit_the_schema(view, &got[view]);
    }
    let rejected: serde_json::Value = serde_json::from_str(&got["rejected"]).unwrap();
    let invalid = lines
        .iter()
        .filter(|l| helixflow_types::decode::decode_event(l.as_bytes()).is_err())
        .count();
    assert_eq!(rejected["total"], invalid as u64);
    let valid = lines.len() - invalid;
    let distinct = distinct_events(&lines).len();
    assert_eq!(rejected["duplicates"], (valid - distinct) as u64);
    assert!(
        rejected["conflicts"].as_u64().unwrap() >= 30,
        "the input has conflicting duplicates"
    );
}

/// Every field of every row is one the view declares (`ViewName::fields`,
/// which the structured query checks against), of the declared type, and
/// every field the view declares (other than optional ones) is written.
fn assert_rows_fit_the_schema(view: &str, text: &str) {
    use helixflow_operators::rows::{FieldType, ViewName};
    use serde_json::Value;
    let name = ViewName::parse(view).unwrap();
    let optional = ["properties", "conversation_id"];
    for line in text.lines() {
        let row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        for (field, value) in &row {
            let t = name
                .field(field)
                .unwrap_or_else(|| panic!("{view}.{field} is not declared"));
            let fits = match (t, value) {
                (_, Value::Null) => true,
                (FieldType::Str | FieldType::Time, v) => v.is_string(),
                (FieldType::Int, v) => v.is_u64() || v.is_i64(),
                (FieldType::Float, v) => v.is_number(),
                (FieldType::Bool, v) => v.is_boolean(),
                (FieldType::Strs, Value::Array(items)) => items.iter().all(Value::is_string),
                (FieldType::Tuple, v) => v.is_array(),
                (FieldType::Object, v) => v.is_object(),
                _ => false,
            };
            assert!(fits, "{view}.{field} = {value} is not {t:?}");
        }
        for (field, _) in name.fields() {
            assert!(
                row.contains_key(*field) || optional.contains(field),
                "{view} row lacks {field}: {line}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn order_batching_files_and_workers_do_not_change_views(
        seed in 0u64..1000,
        shuffle in any::<u64>(),
        parts in 1usize..4,
        workers in 1usize..4,
        epoch_lines in prop_oneof![Just(1u64), 7u64..300, Just(1_000_000)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lines = test_lines(seed, 1500);
        let baseline = run_replay(write_files(&dir.path().join("."), &lines, 1), &dir.path().join("a"), 1, 1_000_000);
        let mut shuffled = lines.clone();
        shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(shuffle));
        let sub = dir.path().join("parts");
        std::fs::create_dir_all(&sub).unwrap();
        let files = write_files(&sub, &shuffled, parts);
        let other = run_replay(files, &dir.path().join("b"), workers, epoch_lines);
        for view in VIEWS {
            prop_assert!(baseline[view] == other[view], "{} differs (seed {}, {} files, -w {}, epoch {})", view, seed, parts, workers, epoch_lines);
        }
        let a: serde_json::Value = serde_json::from_str(&baseline["rejected"]).unwrap();
        let b: serde_json::Value = serde_json::from_str(&other["rejected"]).unwrap();
        prop_assert_eq!(a, b);
    }
}
