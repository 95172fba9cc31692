//! The JSONL file source: reads files in order in blocks cut at line ends,
//! numbers lines for error messages, and with `follow` keeps reading the last
//! file as it grows (like `tail -f`).

use crate::feed::{Chunk, EpochCursor, EpochPolicy, FeedClosed, SourceHandle};
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings of one file source.
#[derive(Clone, Debug)]
pub struct FileSource {
    /// Files to read, in order (`-` is standard input).
    pub paths: Vec<PathBuf>,
    /// Keep reading the last file as it grows.
    pub follow: bool,
    /// How epochs are assigned.
    pub epochs: EpochPolicy,
    /// Target size of one chunk.
    pub chunk_bytes: usize,
}

/// Why a file source stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Counters a file source updates as it goes (for progress bars).
#[derive(Debug, Default)]
pub struct FileProgress {
    /// Bytes read so far, over all files.
    pub bytes: AtomicU64,
}

impl FileSource {
    /// Reads every file into the feed; returns when done (or when `stop` is set).
    pub fn run(
        &self,
        handle: &SourceHandle,
        progress: &FileProgress,
        stop: &AtomicBool,
    ) -> Result<(), FileSourceError> {
        let mut epochs = EpochCursor::new(self.epochs.clone());
        let mut position = serde_json::Value::Null;
        for (i, path) in self.paths.iter().enumerate() {
            let last = i + 1 == self.paths.len();
            let name = path.display().to_string();
            let io_err = |source| FileSourceError::Io {
                path: name.clone(),
                source,
            };
            let mut reader: Box<dyn Read> = if name == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(File::open(path).map_err(io_err)?)
            };
            let origin: Arc<str> = Arc::from(name.as_str());
            let mut carry: Vec<u8> = Vec::new();
            let mut line_no: u64 = 1;
            let mut offset: u64 = 0;
            let mut buf = vec![0u8; self.chunk_bytes.max(4096)];
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let n = reader.read(&mut buf).map_err(io_err)?;
                if n == 0 {
                    if last && self.follow {
                        // Idle: keep epochs moving so snapshots stay current.
                        if let Some(closed) = epochs.advance() {
                            handle.seal(closed, position.clone());
                        }
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    break;
                }
                progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
                carry.extend_from_slice(&buf[..n]);
                let Some(cut) = carry.iter().rposition(|&b| b == b'\n') else {
                    continue;
                };
                let rest = carry.split_off(cut + 1);
                let data = std::mem::replace(&mut carry, rest);
                offset += data.len() as u64;
                let Ok(lines) = send_lines(handle, &mut epochs, &origin, line_no, data) else {
                    return Ok(());
                };
                line_no += lines;
                position = serde_json::json!({"file": name, "line": line_no - 1, "offset": offset});
                if let Some(closed) = epochs.advance() {
                    handle.seal(closed, position.clone());
                }
            }
            // A last line without a newline is still a line.
            if !carry.is_empty() {
                offset += carry.len() as u64;
                if send_lines(
                    handle,
                    &mut epochs,
                    &origin,
                    line_no,
                    std::mem::take(&mut carry),
                )
                .is_err()
                {
                    return Ok(());
                }
                position = serde_json::json!({"file": name, "line": line_no, "offset": offset});
            }
        }
        handle.finish(epochs.current(), position);
        Ok(())
    }
}

/// Sends `data` (whole lines; the last may lack its newline) as one chunk of
/// the current epoch; returns how many lines it held.
fn send_lines(
    handle: &SourceHandle,
    epochs: &mut EpochCursor,
    origin: &Arc<str>,
    first_line: u64,
    data: Vec<u8>,
) -> Result<u64, FeedClosed> {
    let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    let lines = newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'));
    let chunk = Chunk {
        source: handle.index(),
        epoch: epochs.current(),
        first_line,
        origin: Arc::clone(origin),
        records: None,
        decoded: None,
        data,
    };
    handle.send(chunk, lines)?;
    epochs.sent(lines);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Feed;
    use std::io::Write;

    #[test]
    fn cuts_at_line_ends_numbers_lines_and_keeps_a_last_unterminated_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for i in 0..1000 {
            writeln!(f, "{{\"n\":{i}}}").unwrap();
        }
        write!(f, "tail").unwrap();
        let feed = Feed::new(10_000);
        let handle = feed.add_source("f");
        let src = FileSource {
            paths: vec![f.path().to_path_buf()],
            follow: false,
            epochs: EpochPolicy::Lines(100),
            chunk_bytes: 4096,
        };
        src.run(&handle, &FileProgress::default(), &AtomicBool::new(false))
            .unwrap();
        let mut lines = Vec::new();
        while let Ok(c) = feed.try_take() {
            let text = String::from_utf8(c.data).unwrap();
            for (i, l) in text.split_terminator('\n').enumerate() {
                lines.push((c.first_line + i as u64, l.to_owned()));
            }
        }
        assert_eq!(lines.len(), 1001);
        assert!(lines
            .iter()
            .enumerate()
            .all(|(i, (n, _))| *n == i as u64 + 1));
        assert_eq!(lines[500].1, "{\"n\":500}");
        assert_eq!(lines[1000].1, "tail");
        let (_, finished) = feed.sealed();
        assert!(finished);
        assert_eq!(feed.positions_at(u64::MAX)["f"]["line"], 1001);
    }
}
