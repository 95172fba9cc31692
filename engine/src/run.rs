//! `helixflow run`: the streaming engine from a topology.

use helixflow_types::topology::Topology;

/// Runs a topology until Ctrl-C (or until done, with `exit_when_done`).
pub fn run(_topology: Topology, _exit_when_done: bool) -> anyhow::Result<()> {
    anyhow::bail!("run: not wired yet")
}
