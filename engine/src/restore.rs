//! Restarting from the lake: with a lake sink in the topology, `helixflow
//! run` first opens the lake (a damaged one stops the start with the file
//! named), then adds a source that loads its committed events (marked
//! restored: the lake has them) and makes each Kafka source resume every
//! partition at the offset the last commit records. The lake holds every
//! event before those offsets, so the views equal an uninterrupted run's
//! even when Kafka's retention has deleted them; events read twice (after
//! the offsets but already in the lake) are duplicates, which dedup drops.

use anyhow::Context;
use helixflow_sinks::lake::{LakeReader, Location};
use helixflow_types::topology::{LakeSourceConfig, SinkConfig, SourceConfig, Topology};

/// What a restart found in the lake.
#[derive(Debug)]
pub struct Restore {
    pub location: String,
    pub commit: u64,
    pub events: u64,
    /// Kafka partitions resumed (`source`, `topic/partition`, offset).
    pub resumed: Vec<(String, String, i64)>,
}

/// The name of the source that loads the lake of sink `sink`.
pub fn source_name(sink: &str) -> String {
    format!("{sink}-restore")
}

/// Adds the restore of the topology's lake (if it has one and anything is
/// committed) to its sources, and the resume offsets to its Kafka sources.
pub fn plan(topology: &mut Topology) -> anyhow::Result<Option<Restore>> {
    let Some(lake) = topology.sinks.iter().find_map(|s| match s {
        SinkConfig::Lake(l) => Some(l.clone()),
        _ => None,
    }) else {
        return Ok(None);
    };
    let location = Location::parse(&lake.location)
        .map_err(|e| anyhow::anyhow!("lake sink `{}`: {e}", lake.name))?;
    let reader = LakeReader::open(&location, &lake.s3).with_context(|| {
        format!(
            "lake sink `{}`: opening the lake to restore from it",
            lake.name
        )
    })?;
    let manifest = reader.manifest();
    if manifest.commit == 0 {
        return Ok(None);
    }
    let mut resumed = Vec::new();
    for source in &mut topology.sources {
        let SourceConfig::Kafka(k) = source else {
            continue;
        };
        let Some(serde_json::Value::Object(offsets)) = manifest.positions.get(&k.name) else {
            continue;
        };
        for (partition, offset) in offsets {
            if let Some(offset) = offset.as_i64() {
                k.resume.insert(partition.clone(), offset);
                resumed.push((k.name.clone(), partition.clone(), offset));
            }
        }
    }
    topology
        .sources
        .push(SourceConfig::Lake(Box::new(LakeSourceConfig {
            name: source_name(&lake.name),
            location: lake.location.clone(),
            from: None,
            to: None,
            s3: lake.s3.clone(),
            restore: true,
        })));
    Ok(Some(Restore {
        location: location.to_string(),
        commit: manifest.commit,
        events: manifest.rows,
        resumed,
    }))
}
