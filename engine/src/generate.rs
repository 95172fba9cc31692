//! `helixflow generate`: writes generated traffic to a JSONL file (the input
//! of benchmarks and of independent checks).

use helixflow_sources::generator::{Generator, GeneratorSettings};
use indicatif::ProgressBar;
use std::io::{self, Write};

/// Writes `settings.events` lines to `out`; returns the count.
pub fn generate(
    settings: GeneratorSettings,
    out: &mut dyn Write,
    progress: bool,
) -> io::Result<u64> {
    let total = settings.events.unwrap_or(0);
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    let mut g = Generator::new(settings);
    let mut buf = String::with_capacity(1 << 20);
    while !g.done() {
        g.next_line(&mut buf);
        if buf.len() > (1 << 20) - 4096 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
            bar.set_position(g.produced());
        }
    }
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    bar.finish_and_clear();
    Ok(g.produced())
}
