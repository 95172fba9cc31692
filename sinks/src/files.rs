//! The files sink: writes a view as `DIR/{view}.jsonl` in the contract's form
//! (one JSON object per line, sorted by key), through a temporary file that
//! is renamed into place, so a reader never sees half a view.

use helixflow_operators::intern::Interner;
use helixflow_operators::render::{render, Rendered, Selection};
use helixflow_operators::rows::{ViewName, ViewPart};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes one view's rows to `dir/{view}.jsonl` atomically.
pub fn write_view_file(
    dir: &Path,
    view: ViewName,
    part: ViewPart,
    ids: &Interner,
) -> io::Result<Rendered> {
    fs::create_dir_all(dir)?;
    let path = view_path(dir, view);
    let tmp = dir.join(format!(".{}.jsonl.tmp", view.as_str()));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let rendered = render(part, ids, &Selection::default(), &mut out)?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(rendered)
}

/// Where a view's file goes.
pub fn view_path(dir: &Path, view: ViewName) -> PathBuf {
    dir.join(format!("{}.jsonl", view.as_str()))
}

/// Writes `contents` to `dir/name` atomically.
pub fn write_file_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sorted_pairs_oriented_by_string() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Interner::new();
        let z = ids.intern("z").unwrap();
        let a = ids.intern("a").unwrap();
        let m = ids.intern("m").unwrap();
        let part = ViewPart::Cooccurrence(vec![((z, a), 2), ((a, m), 1), ((m, z), 5)]);
        let r = write_view_file(dir.path(), ViewName::EntityCooccurrence, part, &ids).unwrap();
        assert_eq!(r.rows, 3);
        let text = fs::read_to_string(view_path(dir.path(), ViewName::EntityCooccurrence)).unwrap();
        assert_eq!(
            text,
            "{\"a\":\"a\",\"b\":\"m\",\"count\":1}\n{\"a\":\"a\",\"b\":\"z\",\"count\":2}\n{\"a\":\"m\",\"b\":\"z\",\"count\":5}\n"
        );
    }
}
