//! Opt-in stall diagnosis: with `HELIXFLOW_SLOW_OPERATOR_MS=N` in the
//! environment, every worker logs (at WARN) each operator activation that
//! ran for N ms or longer, naming the operator, so a latency tail can be
//! traced to the operator that held the worker. Off by default: timely's
//! event log costs a little on every activation.

use std::collections::HashMap;
use std::time::Duration;
use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// The environment variable that turns the log on (a threshold in ms).
pub const SLOW_OPERATOR_MS: &str = "HELIXFLOW_SLOW_OPERATOR_MS";

/// Installs the log on `worker` if the environment asks for it. Call it
/// before building dataflows, so operator names are known.
pub fn install(worker: &mut Worker) {
    let Some(threshold) = std::env::var(SLOW_OPERATOR_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
    else {
        return;
    };
    let index = worker.index();
    let Some(mut registry) = worker.log_register() else {
        return;
    };
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut started: HashMap<usize, Duration> = HashMap::new();
    registry.insert::<TimelyEventBuilder, _>("timely", move |_now, events| {
        let Some(events) = events else { return };
        for (at, event) in events.iter() {
            match event {
                TimelyEvent::Operates(op) => {
                    names.insert(op.id, op.name.clone());
                }
                TimelyEvent::Schedule(s) if s.start_stop == StartStop::Start => {
                    started.insert(s.id, *at);
                }
                TimelyEvent::Schedule(s) => {
                    let Some(began) = started.remove(&s.id) else {
                        continue;
                    };
                    let took = at.saturating_sub(began);
                    if took >= threshold {
                        let name = names.get(&s.id).map_or("?", String::as_str);
                        tracing::warn!(
                            "worker {index}: operator `{name}` ran {:.1} ms in one activation (at {:.3} s)",
                            took.as_secs_f64() * 1000.0,
                            at.as_secs_f64()
                        );
                    }
                }
                _ => {}
            }
        }
    });
}
