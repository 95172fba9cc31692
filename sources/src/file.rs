//! The JSONL file source: reads files in order in blocks cut at line ends,
//! numbers lines for error messages, and with `follow` keeps reading the last
//! file as it grows (like `tail -f`).
//!
//! In a cluster each process reads its [`Share`] of every file: the
//! processes cut each file into equal byte ranges, and a line belongs to
//! the range its first byte is in, so every line is read by exactly one
//! process. A process whose range starts mid-file counts the newlines
//! before it (without decoding them) to number its lines; standard input
//! cannot be cut and is read by the first process alone.

use crate::feed::{Chunk, EpochCursor, EpochPolicy, FeedClosed, Share, SourceHandle};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
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
    /// The part of each file this process reads.
    pub share: Share,
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
            let (mut reader, first_line, start): (Box<dyn Read>, u64, u64) = if name == "-" {
                if self.share.index != 0 {
                    continue;
                }
                (Box::new(io::stdin().lock()), 1, 0)
            } else if self.share.is_all() || self.follow {
                (Box::new(File::open(path).map_err(io_err)?), 1, 0)
            } else {
                let (file, first_line, start) = open_share(path, self.share).map_err(io_err)?;
                (Box::new(file), first_line, start)
            };
            let origin: Arc<str> = Arc::from(name.as_str());
            let mut carry: Vec<u8> = Vec::new();
            let mut line_no: u64 = first_line;
            let mut offset: u64 = start;
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

/// This process's share of the file at `path`: a reader of exactly its
/// lines, the number of its first line, and its first byte.
fn open_share(path: &std::path::Path, share: Share) -> io::Result<(io::Take<File>, u64, u64)> {
    let len = std::fs::metadata(path)?.len();
    let of = share.of.max(1) as u64;
    let cut = |k: u64| -> io::Result<u64> {
        if k == 0 {
            return Ok(0);
        }
        if k >= of {
            return Ok(len);
        }
        line_start_at_or_after(path, len * k / of, len)
    };
    let start = cut(share.index as u64)?;
    let end = cut(share.index as u64 + 1)?.max(start);
    let first_line = 1 + count_newlines(path, start)?;
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    Ok((file.take(end - start), first_line, start))
}

/// The offset of the first line that starts at or after `at` (`len` if none).
fn line_start_at_or_after(path: &std::path::Path, at: u64, len: u64) -> io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    // A line starts at `at` if the byte before it ends one.
    let mut reader = BufReader::new(File::open(path)?);
    reader.seek(SeekFrom::Start(at - 1))?;
    let mut skipped = Vec::new();
    let n = reader.read_until(b'\n', &mut skipped)? as u64;
    Ok(if skipped.last() == Some(&b'\n') {
        at - 1 + n
    } else {
        len
    })
}

/// Newlines in the first `upto` bytes of the file.
fn count_newlines(path: &std::path::Path, upto: u64) -> io::Result<u64> {
    let mut reader = File::open(path)?.take(upto);
    let mut buf = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
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
            share: Share::default(),
        };
        src.run(&handle, &FileProgress::default(), &AtomicBool::new(false))
            .unwrap();
        let lines = numbered_lines(&feed);
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

    /// The (line number, line) pairs of every chunk in `feed`.
    fn numbered_lines(feed: &Feed) -> Vec<(u64, String)> {
        let mut lines = Vec::new();
        while let Ok(c) = feed.try_take() {
            let text = String::from_utf8(c.data).unwrap();
            for (i, l) in text.split_terminator('\n').enumerate() {
                lines.push((c.first_line + i as u64, l.to_owned()));
            }
        }
        lines
    }

    /// The (line number, line) pairs a source of `share` reads from `path`.
    fn read_share(path: &std::path::Path, share: Share) -> Vec<(u64, String)> {
        let feed = Feed::new(100_000);
        let handle = feed.add_source("f");
        let src = FileSource {
            paths: vec![path.to_path_buf()],
            follow: false,
            epochs: EpochPolicy::Lines(7),
            chunk_bytes: 4096,
            share,
        };
        src.run(&handle, &FileProgress::default(), &AtomicBool::new(false))
            .unwrap();
        numbered_lines(&feed)
    }

    #[test]
    fn shares_of_a_file_read_every_line_once_with_its_number() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for i in 0..3000 {
            // Lines of very different lengths, so cuts fall inside lines.
            writeln!(f, "{i}:{}", "x".repeat((i * 37) % 500)).unwrap();
        }
        write!(f, "last").unwrap();
        let whole = read_share(f.path(), Share::default());
        assert_eq!(whole.len(), 3001);
        for of in 2..=5 {
            let mut union: Vec<_> = (0..of)
                .flat_map(|index| read_share(f.path(), Share { index, of }))
                .collect();
            union.sort();
            assert_eq!(union, whole, "{of} shares");
        }
        // More processes than lines: some shares are empty.
        let mut tiny = tempfile::NamedTempFile::new().unwrap();
        write!(tiny, "a\nb\n").unwrap();
        let mut union: Vec<_> = (0..5)
            .flat_map(|index| read_share(tiny.path(), Share { index, of: 5 }))
            .collect();
        union.sort();
        assert_eq!(union, [(1, "a".to_owned()), (2, "b".to_owned())]);
    }
}
