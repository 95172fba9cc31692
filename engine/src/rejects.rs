//! The reject log: every rejected input counted by source and reason, the
//! last few kept with their payload and reason, optionally echoed to stderr.

use helixflow_types::decode::{RejectReason, Rejection};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// How many rejected payloads are kept for inspection.
pub const KEEP_LAST: usize = 32;
const PAYLOAD_SHOWN: usize = 1024;

/// One kept rejection.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RejectedInput {
    /// Source name.
    pub source: String,
    /// Where: `file:line` or a position.
    pub at: String,
    /// Stable reason code.
    pub reason: &'static str,
    /// What is wrong.
    pub detail: String,
    /// The payload (first 1 KiB, lossy UTF-8).
    pub payload: String,
}

#[derive(Default)]
struct Inner {
    counts: BTreeMap<(String, &'static str), u64>,
    last: VecDeque<RejectedInput>,
}

/// Reports one rejection as a line of text (replay prints it on stderr).
pub type Echo = Box<dyn Fn(&str) + Send + Sync>;

/// Counters and the ring of last rejections.
#[derive(Default)]
pub struct RejectLog {
    inner: Mutex<Inner>,
    echo: Option<Echo>,
}

impl RejectLog {
    /// A log that also reports every rejection through `echo` (replay uses stderr).
    pub fn with_echo(echo: impl Fn(&str) + Send + Sync + 'static) -> Self {
        RejectLog {
            inner: Mutex::default(),
            echo: Some(Box::new(echo)),
        }
    }

    /// Records one rejected input.
    pub fn record(&self, source: &str, at: &str, rejection: &Rejection, payload: &[u8]) {
        if let Some(echo) = &self.echo {
            echo(&format!(
                "{at}: rejected ({}): {}",
                rejection.reason.code(),
                rejection.detail
            ));
        }
        let shown =
            String::from_utf8_lossy(&payload[..payload.len().min(PAYLOAD_SHOWN)]).into_owned();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner
            .counts
            .entry((source.to_owned(), rejection.reason.code()))
            .or_default() += 1;
        if inner.last.len() == KEEP_LAST {
            inner.last.pop_front();
        }
        inner.last.push_back(RejectedInput {
            source: source.to_owned(),
            at: at.to_owned(),
            reason: rejection.reason.code(),
            detail: rejection.detail.clone(),
            payload: shown,
        });
    }

    /// Total rejected.
    pub fn total(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counts
            .values()
            .sum()
    }

    /// Counts by reason code (over all sources); every reason is present.
    pub fn by_reason(&self) -> BTreeMap<&'static str, u64> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: BTreeMap<&'static str, u64> =
            RejectReason::ALL.iter().map(|r| (r.code(), 0)).collect();
        for ((_, reason), n) in &inner.counts {
            *out.entry(reason).or_default() += n;
        }
        out
    }

    /// Counts by source, then reason.
    pub fn by_source(&self) -> BTreeMap<String, BTreeMap<&'static str, u64>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for ((source, reason), n) in &inner.counts {
            out.entry(source.clone()).or_default().insert(reason, *n);
        }
        out
    }

    /// The last rejections, oldest first.
    pub fn last(&self) -> Vec<RejectedInput> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last
            .iter()
            .cloned()
            .collect()
    }
}
