//! Wiring of every view from the stream of decoded candidates, and reading
//! the arranged views back out at a consistent time.
//!
//! Candidates are partitioned by kind, deduplicated, and fed to the enabled
//! views. Each view ends in an arrangement whose trace handle is kept in
//! [`ViewTraces`]: the API, the sinks and `replay` read those traces (never a
//! copy of the data) through [`ViewTraces::read`].

use crate::changes::{export_keyed, export_pairs, Publish, PublishRaw};
use crate::content::ContentStore;
use crate::conversation_flow::{conversation_flow, FlowTrace};
use crate::conversation_snapshots::{
    conversation_items, conversation_snapshots, ConversationTrace,
};
use crate::debate_stats::{debate_stats, DebateTrace};
use crate::debate_strategies::{debate_strategies, StrategyTrace};
use crate::dedup::{dedup_named, DedupStats};
use crate::entity_cooccurrence::{entity_cooccurrence, CooccurrenceTrace};
use crate::entity_directory::{entity_directory, DirectoryTrace};
use crate::facts::{Candidate, DebateFact, DedupRoute, Fact, HoldsText, MessageFact};
use crate::intern::{Id, Interner};
use crate::knowledge::{self, EntityConversationsTrace, LinkTrace};
use crate::latest::{entities, relationships, EntityTrace, RelationshipTrace};
use crate::memberships::{memberships, MembershipTrace};
use crate::memory_state::{memory_state, MemoryTrace};
use crate::memory_sync::{self, MemoryIdTrace, NodeTrace};
use crate::pair_ranks::{heavy_pairs, HeavyPairTrace};
use crate::provider_performance::{provider_performance, PerformanceTrace};
use crate::provider_stats::{provider_stats, ProviderTrace};
use crate::query::for_each_at;
use crate::rows::{ViewName, ViewPart, VIEW_COUNT};
use crate::user_intents::{user_intents, IntentTrace};
use crate::user_preferences::{user_preferences, PreferenceTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::{KeySpine, ValSpine};
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::{ExchangeData, VecCollection};
use std::sync::Arc;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::{Map, Partition};
use timely::dataflow::operators::Probe;
use timely::dataflow::StreamVec;
use timely::progress::Antichain;

/// Dedup counters, one per event kind (contract order).
pub type KindStats = [Arc<DedupStats>; 6];

/// The views a dataflow computes, and whether it keeps the context state
/// (message texts, messages arranged by conversation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSet {
    views: [bool; VIEW_COUNT],
    /// Keep the context state.
    pub context: bool,
}

impl ViewSet {
    /// Every view, and the context state.
    pub fn all() -> Self {
        ViewSet {
            views: [true; VIEW_COUNT],
            context: true,
        }
    }

    /// The views named (unknown names are ignored; topologies validate
    /// them), with the context state if `context`.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>, context: bool) -> Self {
        let mut views = [false; VIEW_COUNT];
        for n in names {
            if let Some(v) = ViewName::parse(n) {
                views[v as usize] = true;
            }
        }
        ViewSet { views, context }
    }

    /// This set without the context state.
    pub fn without_context(self) -> Self {
        ViewSet {
            context: false,
            ..self
        }
    }

    /// Whether `view` is computed.
    pub fn contains(&self, view: ViewName) -> bool {
        self.views[view as usize]
    }
}

/// Trace handles of the computed views, on one worker.
#[derive(Default)]
pub struct ViewTraces {
    pub conversation_snapshots: Option<ConversationTrace>,
    pub entity_cooccurrence: Option<CooccurrenceTrace>,
    pub provider_stats: Option<ProviderTrace>,
    pub memory_state: Option<MemoryTrace>,
    pub debate_stats: Option<DebateTrace>,
    pub entities: Option<EntityTrace>,
    pub relationships: Option<RelationshipTrace>,
    pub entity_directory: Option<DirectoryTrace>,
    pub user_intents: Option<IntentTrace>,
    pub user_preferences: Option<PreferenceTrace>,
    pub conversation_flow: Option<FlowTrace>,
    pub debate_strategies: Option<StrategyTrace>,
    pub provider_performance: Option<PerformanceTrace>,
    /// The distinct messages by conversation, each ascending by `seq`
    /// (context queries; present when the context state is kept).
    pub conversation_messages: Option<MessageTrace>,
    /// Distinct (conversation, entity) memberships by conversation, and
    /// this worker's memberships by entity (knowledge queries; present with
    /// `entity_directory`).
    pub memberships: Option<MembershipTrace>,
    pub entity_conversations: Option<EntityConversationsTrace>,
    /// Relationship rows by endpoint (present with `entity_directory`).
    pub relationship_links: Option<LinkTrace>,
    /// Each provider's call latencies, by provider: (model, hour, latency)
    /// with the number of calls (present with `provider_stats`).
    pub call_latencies: Option<LatencyTrace>,
    /// The distinct debate rounds by debate (present with `debate_stats`).
    pub debate_rounds: Option<RoundTrace>,
    /// Co-occurrence pairs by count (present with `entity_cooccurrence`).
    pub heavy_pairs: Option<HeavyPairTrace>,
    /// Memory sync figures (present with `memory_state`).
    pub memory_nodes: Option<NodeTrace>,
    pub memory_ids: Option<MemoryIdTrace>,
}

/// Distinct messages arranged by conversation.
pub type MessageTrace = crate::reduce_view::ViewTrace<Id, MessageFact>;
/// Call latencies by provider: (model, hour, latency), diff = calls.
pub type LatencyTrace =
    crate::reduce_view::ViewTrace<Id, (Id, helixflow_types::timestamp::Millis, u32)>;
/// Distinct debate rounds by debate.
pub type RoundTrace = crate::reduce_view::ViewTrace<Id, DebateFact>;

fn narrow<'s, F: ExchangeData + HoldsText + DedupRoute>(
    stream: StreamVec<'s, Time, Candidate<Fact>>,
    name: &str,
    stats: &Arc<DedupStats>,
    texts: Option<&ContentStore>,
    pick: fn(Fact) -> Option<F>,
) -> VecCollection<'s, Time, F, Diff> {
    dedup_named(
        stream.flat_map(move |c| c.narrow(pick)),
        name,
        Arc::clone(stats),
        texts.cloned(),
    )
}

/// Deduplicates one kind's partition, narrowed to that kind's fact type.
macro_rules! dedup_kind {
    ($stream:expr, $name:literal, $stats:expr, $texts:expr, $variant:path) => {
        narrow($stream, $name, $stats, $texts, |f| match f {
            $variant(x) => Some(x),
            _ => None,
        })
    };
}

/// What the views of one worker share: the identifier table, the content
/// store, the dedup counters.
pub struct ViewContext<'a> {
    pub ids: &'a Interner,
    pub texts: &'a ContentStore,
    pub stats: &'a KindStats,
}

/// Builds every enabled view from the candidates; each view's arrangement is
/// attached to `probe`.
pub fn build_views<'s>(
    candidates: StreamVec<'s, Time, Candidate<Fact>>,
    enabled: ViewSet,
    context: &ViewContext<'_>,
    probe: &ProbeHandle<Time>,
    exports: &ViewExports,
) -> ViewTraces {
    let mut parts = candidates
        .partition(6, |c| (c.fact.kind_index(), c))
        .into_iter();
    let mut next = || parts.next().expect("partition returns 6 streams");
    let (stats, texts) = (context.stats, context.texts);
    // Message texts are stored only when the context state is kept.
    let texts = enabled.context.then_some(texts);
    let messages = dedup_kind!(next(), "dedup_messages", &stats[0], texts, Fact::Message);
    let memory = dedup_kind!(next(), "dedup_memory", &stats[1], None, Fact::Memory);
    let entity_updates = dedup_kind!(next(), "dedup_entities", &stats[2], None, Fact::Entity);
    let relationship_updates = dedup_kind!(
        next(),
        "dedup_relationships",
        &stats[3],
        None,
        Fact::Relationship
    );
    let calls = dedup_kind!(next(), "dedup_provider_calls", &stats[4], None, Fact::Call);
    let rounds = dedup_kind!(next(), "dedup_debate_rounds", &stats[5], None, Fact::Debate);

    let items = conversation_items(messages.clone());
    let on = |v: ViewName| enabled.contains(v);
    let directory = on(ViewName::EntityDirectory);
    macro_rules! keyed {
        ($view:expr, $arranged:expr, $wrap:path) => {{
            let arranged = $arranged;
            if let Some(publish) = exports.to($view) {
                export_keyed(&arranged, $view, exports.worker, $wrap, publish);
            }
            probed(arranged, probe)
        }};
    }
    // Views other views read are built when either is on.
    let members =
        (on(ViewName::EntityCooccurrence) || directory).then(|| memberships(items.clone()));
    let entity_rows = (on(ViewName::Entities) || directory).then(|| entities(entity_updates));
    let relationship_rows =
        (on(ViewName::Relationships) || directory).then(|| relationships(relationship_updates));
    let entity_directory = match (&members, &entity_rows, &relationship_rows) {
        (Some(m), Some(e), Some(r)) if directory => Some(keyed!(
            ViewName::EntityDirectory,
            entity_directory(messages.clone(), m, e, r, context.ids.clone()),
            ViewPart::Directory
        )),
        _ => None,
    };
    // The knowledge queries' indexes, with the directory they answer from.
    let (memberships_trace, entity_conversations, relationship_links) =
        match (&members, &relationship_rows) {
            (Some(m), Some(r)) if directory => (
                Some(probed(m.clone(), probe)),
                Some(probed(knowledge::entity_conversations(m), probe)),
                Some(probed(knowledge::relationship_links(r), probe)),
            ),
            _ => (None, None, None),
        };
    // The learning views (api.md).
    let hours = (on(ViewName::ProviderStats) || on(ViewName::ProviderPerformance))
        .then(|| provider_stats(calls.clone()));
    // The provider and debate analytics read these beside their views.
    let call_latencies = on(ViewName::ProviderStats).then(|| {
        probed(
            calls
                .clone()
                .map(|c| (c.provider, (c.model, c.hour, c.latency_ms)))
                .arrange_by_key_named("call_latencies"),
            probe,
        )
    });
    let debate_rounds = on(ViewName::DebateStats).then(|| {
        probed(
            rounds
                .clone()
                .map(|r| (r.debate, r))
                .arrange_by_key_named("debate_rounds"),
            probe,
        )
    });
    let provider_performance = hours
        .as_ref()
        .filter(|_| on(ViewName::ProviderPerformance))
        .map(|h| {
            keyed!(
                ViewName::ProviderPerformance,
                provider_performance(calls, h),
                ViewPart::Performance
            )
        });
    let debates = (on(ViewName::DebateStats) || on(ViewName::DebateStrategies))
        .then(|| debate_stats(rounds.clone()));
    let debate_strategies = debates
        .as_ref()
        .filter(|_| on(ViewName::DebateStrategies))
        .map(|d| {
            keyed!(
                ViewName::DebateStrategies,
                debate_strategies(rounds, d.clone()),
                ViewPart::Strategies
            )
        });
    let user_intents = on(ViewName::UserIntents).then(|| {
        keyed!(
            ViewName::UserIntents,
            user_intents(messages.clone()),
            ViewPart::Intents
        )
    });
    let user_preferences = on(ViewName::UserPreferences).then(|| {
        keyed!(
            ViewName::UserPreferences,
            user_preferences(messages.clone()),
            ViewPart::Preferences
        )
    });
    let conversation_flow = on(ViewName::ConversationFlow).then(|| {
        keyed!(
            ViewName::ConversationFlow,
            conversation_flow(messages.clone()),
            ViewPart::Flow
        )
    });
    let mut heavy_pair_index = None;
    let entity_cooccurrence = members
        .as_ref()
        .filter(|_| on(ViewName::EntityCooccurrence))
        .map(|m| {
            let arranged = entity_cooccurrence(m.clone());
            if let Some(publish) = exports.to(ViewName::EntityCooccurrence) {
                export_pairs(&arranged, exports.worker, publish);
            }
            heavy_pair_index = Some(probed(heavy_pairs(&arranged), probe));
            probed(arranged, probe)
        });
    let memory_state = on(ViewName::MemoryState).then(|| memory_state(memory.clone()));
    let (memory_nodes, memory_ids) = match &memory_state {
        Some(state) => (
            Some(probed(
                memory_sync::memory_nodes(memory.clone(), state),
                probe,
            )),
            Some(probed(memory_sync::memory_ids(memory), probe)),
        ),
        None => (None, None),
    };
    ViewTraces {
        conversation_snapshots: on(ViewName::ConversationSnapshots).then(|| {
            keyed!(
                ViewName::ConversationSnapshots,
                conversation_snapshots(items),
                ViewPart::Conversations
            )
        }),
        entity_cooccurrence,
        provider_stats: hours
            .filter(|_| on(ViewName::ProviderStats))
            .map(|h| keyed!(ViewName::ProviderStats, h, ViewPart::ProviderStats)),
        memory_state: memory_state.map(|m| keyed!(ViewName::MemoryState, m, ViewPart::Memory)),
        debate_stats: debates
            .filter(|_| on(ViewName::DebateStats))
            .map(|d| keyed!(ViewName::DebateStats, d, ViewPart::Debates)),
        entities: entity_rows
            .filter(|_| on(ViewName::Entities))
            .map(|e| keyed!(ViewName::Entities, e, ViewPart::Entities)),
        relationships: relationship_rows
            .filter(|_| on(ViewName::Relationships))
            .map(|r| keyed!(ViewName::Relationships, r, ViewPart::Relationships)),
        entity_directory,
        user_intents,
        user_preferences,
        conversation_flow,
        debate_strategies,
        provider_performance,
        conversation_messages: enabled.context.then(|| {
            probed(
                messages
                    .map(|m| (m.conv, m))
                    .arrange_by_key_named("conversation_messages"),
                probe,
            )
        }),
        memberships: memberships_trace,
        entity_conversations,
        relationship_links,
        call_latencies,
        debate_rounds,
        heavy_pairs: heavy_pair_index,
        memory_nodes,
        memory_ids,
    }
}

/// Which views one worker exports to sinks, and where.
#[derive(Clone, Default)]
pub struct ViewExports {
    /// The worker building the dataflow.
    pub worker: usize,
    /// Per view (contract order): where its changes go, if any sink wants them.
    pub publish: [Option<Publish>; VIEW_COUNT],
    /// Where raw events (and ingest's progress) go, if a sink wants them.
    pub raw: Option<PublishRaw>,
}

impl ViewExports {
    fn to(&self, view: ViewName) -> Option<Publish> {
        self.publish[view as usize].clone()
    }
}

/// Attaches a view's arrangement to the probe and keeps its trace.
fn probed<Tr: TraceReader<Time = Time> + Clone>(
    view: Arranged<'_, Tr>,
    probe: &ProbeHandle<Time>,
) -> Tr {
    view.stream.probe_with(probe);
    view.trace
}

/// Reads a keyed view: every (key, row) whose accumulated count at `as_of` is positive.
fn read_vals<K, V>(trace: &mut TraceAgent<ValSpine<K, V, Time, Diff>>, as_of: Time) -> Vec<(K, V)>
where
    K: ExchangeData,
    V: ExchangeData,
{
    let mut out = Vec::new();
    for_each_at(trace, as_of, None, |k, v, _| {
        out.push((k.clone(), v.clone()))
    });
    out
}

/// Reads a key-only view: every key with its positive accumulated count.
pub(crate) fn read_counts<K>(
    trace: &mut TraceAgent<KeySpine<K, Time, Diff>>,
    as_of: Time,
) -> Vec<(K, Diff)>
where
    K: ExchangeData,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let batches = trace.batches_through(upper.borrow()).unwrap_or_default();
    let (mut cursor, storage) = cursor_list(batches);
    let mut out = Vec::new();
    while let Some(key) = cursor.get_key(&storage) {
        while cursor.get_val(&storage).is_some() {
            let mut count: Diff = 0;
            cursor.map_times(&storage, |t, d| {
                if *t <= as_of {
                    count += *d;
                }
            });
            if count > 0 {
                out.push((key.clone(), count));
            }
            cursor.step_val(&storage);
        }
        cursor.step_key(&storage);
    }
    out
}

fn upper_of<Tr: TraceReader<Time = Time>>(trace: &mut Tr) -> Option<Time> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    upper.elements().first().copied()
}

fn compact<Tr: TraceReader<Time = Time>>(trace: &mut Tr, frontier: Time) {
    let f = [frontier];
    trace.set_logical_compaction(Antichain::from_elem(frontier).borrow());
    trace.set_physical_compaction(timely::progress::frontier::AntichainRef::new(&f));
}

macro_rules! each_trace {
    ($self:ident, $t:ident => $body:expr) => {{
        if let Some($t) = $self.conversation_snapshots.as_mut() {
            $body;
        }
        if let Some($t) = $self.entity_cooccurrence.as_mut() {
            $body;
        }
        if let Some($t) = $self.provider_stats.as_mut() {
            $body;
        }
        if let Some($t) = $self.memory_state.as_mut() {
            $body;
        }
        if let Some($t) = $self.debate_stats.as_mut() {
            $body;
        }
        if let Some($t) = $self.entities.as_mut() {
            $body;
        }
        if let Some($t) = $self.relationships.as_mut() {
            $body;
        }
        if let Some($t) = $self.entity_directory.as_mut() {
            $body;
        }
        if let Some($t) = $self.user_intents.as_mut() {
            $body;
        }
        if let Some($t) = $self.user_preferences.as_mut() {
            $body;
        }
        if let Some($t) = $self.conversation_flow.as_mut() {
            $body;
        }
        if let Some($t) = $self.debate_strategies.as_mut() {
            $body;
        }
        if let Some($t) = $self.provider_performance.as_mut() {
            $body;
        }
        if let Some($t) = $self.conversation_messages.as_mut() {
            $body;
        }
        if let Some($t) = $self.memberships.as_mut() {
            $body;
        }
        if let Some($t) = $self.entity_conversations.as_mut() {
            $body;
        }
        if let Some($t) = $self.relationship_links.as_mut() {
            $body;
        }
        if let Some($t) = $self.call_latencies.as_mut() {
            $body;
        }
        if let Some($t) = $self.debate_rounds.as_mut() {
            $body;
        }
        if let Some($t) = $self.heavy_pairs.as_mut() {
            $body;
        }
        if let Some($t) = $self.memory_nodes.as_mut() {
            $body;
        }
        if let Some($t) = $self.memory_ids.as_mut() {
            $body;
        }
    }};
}

impl ViewTraces {
    /// This worker's part of `view` as of time `as_of` (every update at a
    /// time `<= as_of`). `None` if the view is not computed.
    pub fn read(&mut self, view: ViewName, as_of: Time) -> Option<ViewPart> {
        Some(match view {
            ViewName::ConversationSnapshots => {
                ViewPart::Conversations(read_vals(self.conversation_snapshots.as_mut()?, as_of))
            }
            ViewName::EntityCooccurrence => {
                ViewPart::Cooccurrence(read_counts(self.entity_cooccurrence.as_mut()?, as_of))
            }
            ViewName::ProviderStats => {
                ViewPart::ProviderStats(read_vals(self.provider_stats.as_mut()?, as_of))
            }
            ViewName::MemoryState => {
                ViewPart::Memory(read_vals(self.memory_state.as_mut()?, as_of))
            }
            ViewName::DebateStats => {
                ViewPart::Debates(read_vals(self.debate_stats.as_mut()?, as_of))
            }
            ViewName::Entities => ViewPart::Entities(read_vals(self.entities.as_mut()?, as_of)),
            ViewName::Relationships => {
                ViewPart::Relationships(read_vals(self.relationships.as_mut()?, as_of))
            }
            ViewName::EntityDirectory => {
                ViewPart::Directory(read_vals(self.entity_directory.as_mut()?, as_of))
            }
            ViewName::UserIntents => {
                ViewPart::Intents(read_vals(self.user_intents.as_mut()?, as_of))
            }
            ViewName::UserPreferences => {
                ViewPart::Preferences(read_vals(self.user_preferences.as_mut()?, as_of))
            }
            ViewName::ConversationFlow => {
                ViewPart::Flow(read_vals(self.conversation_flow.as_mut()?, as_of))
            }
            ViewName::DebateStrategies => {
                ViewPart::Strategies(read_vals(self.debate_strategies.as_mut()?, as_of))
            }
            ViewName::ProviderPerformance => {
                ViewPart::Performance(read_vals(self.provider_performance.as_mut()?, as_of))
            }
        })
    }

    /// The first time not yet complete in every view on this worker
    /// (`None` once every view's input is closed).
    pub fn upper(&mut self) -> Option<Time> {
        let mut min: Option<Time> = None;
        each_trace!(self, t => if let Some(u) = upper_of(t) {
            min = Some(min.map_or(u, |m| m.min(u)));
        });
        min
    }

    /// Allows the traces to forget history before `frontier`: reads must then
    /// use `as_of >= frontier`.
    pub fn compact_to(&mut self, frontier: Time) {
        each_trace!(self, t => compact(t, frontier));
    }
}
