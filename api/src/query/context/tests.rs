//! Each strategy's selection rule on hand-made conversations.

use super::*;

fn msg(seq: u64, role: Role, tokens: u32, entities: &[&'static str]) -> Msg<'static> {
    let mut entities = entities.to_vec();
    entities.sort_unstable();
    Msg {
        seq,
        role,
        content: "",
        tokens,
        ts: seq as i64 * 1000,
        entities,
        user: "u",
        session: "s",
        provider: None,
    }
}

fn request(strategy: Strategy) -> ReplayRequest {
    ReplayRequest {
        strategy,
        max_messages: None,
        max_tokens: None,
        recent: None,
        entities: None,
    }
}

fn seqs(messages: &[Msg<'_>], r: &ReplayRequest) -> Vec<u64> {
    select(messages, r)
        .indexes
        .iter()
        .map(|i| messages[*i].seq)
        .collect()
}

#[test]
fn full_takes_everything_and_ignores_limits() {
    let m: Vec<Msg> = (0..5).map(|s| msg(s, Role::User, 10, &[])).collect();
    let r = ReplayRequest {
        max_messages: Some(1),
        max_tokens: Some(1),
        ..request(Strategy::Full)
    };
    assert_eq!(seqs(&m, &r), vec![0, 1, 2, 3, 4]);
    assert!(select(&m, &r).focus.is_empty());
}

#[test]
fn window_stops_at_the_first_message_that_does_not_fit() {
    // Tokens from seq 0: 5, 50, 5, 5. With max_tokens 12 the walk takes 3
    // and 2 (10 tokens), then seq 1 (50) fails and stops it: seq 0 would
    // fit but is never reached.
    let m = vec![
        msg(0, Role::User, 5, &[]),
        msg(1, Role::User, 50, &[]),
        msg(2, Role::User, 5, &[]),
        msg(3, Role::User, 5, &[]),
    ];
    let r = ReplayRequest {
        max_tokens: Some(12),
        ..request(Strategy::Window)
    };
    assert_eq!(seqs(&m, &r), vec![2, 3]);
    // The default of 20 messages.
    let long: Vec<Msg> = (0..30).map(|s| msg(s, Role::User, 1, &[])).collect();
    assert_eq!(
        seqs(&long, &request(Strategy::Window)),
        (10..30).collect::<Vec<_>>()
    );
    let r = ReplayRequest {
        max_messages: Some(2),
        ..request(Strategy::Window)
    };
    assert_eq!(seqs(&long, &r), vec![28, 29]);
}

#[test]
fn entity_skips_what_does_not_fit_and_goes_on() {
    // Focus {a, b}: scores 2 (seq 1), 1 (seqs 0, 3), 0 (seq 2).
    let m = vec![
        msg(0, Role::User, 4, &["a"]),
        msg(1, Role::User, 10, &["a", "b"]),
        msg(2, Role::User, 1, &["c"]),
        msg(3, Role::User, 3, &["b", "c"]),
    ];
    let r = ReplayRequest {
        entities: Some(vec!["b".into(), "a".into(), "a".into()]),
        max_tokens: Some(8),
        ..request(Strategy::Entity)
    };
    // seq 1 (10 tokens) does not fit and is skipped; then seq 3 (3), seq 0 (4).
    let s = select(&m, &r);
    assert_eq!(s.focus, vec!["a", "b"]);
    assert_eq!(seqs(&m, &r), vec![0, 3]);
    // max_messages: the first candidates in order (score desc, seq desc).
    let r = ReplayRequest {
        entities: Some(vec!["a".into(), "b".into()]),
        max_messages: Some(2),
        ..request(Strategy::Entity)
    };
    assert_eq!(seqs(&m, &r), vec![1, 3]);
    // An empty focus given: no candidates.
    let r = ReplayRequest {
        entities: Some(vec![]),
        ..request(Strategy::Entity)
    };
    assert!(seqs(&m, &r).is_empty());
}

#[test]
fn the_default_focus_is_the_five_most_mentioned_ids_ties_to_the_smaller() {
    let m = vec![
        msg(0, Role::User, 1, &["f", "e", "d", "c", "b", "a"]),
        msg(1, Role::User, 1, &["f", "e"]),
        msg(2, Role::User, 1, &["z"]),
    ];
    // f and e twice; then a, b, c (once each, smaller first) beat d and z.
    assert_eq!(
        select(&m, &request(Strategy::Entity)).focus,
        vec!["a", "b", "c", "e", "f"]
    );
}

#[test]
fn hybrid_walks_system_then_recent_then_entities_then_the_rest() {
    // 12 messages of 10 tokens; seq 0 system; seq 1 mentions "x" most.
    let mut m: Vec<Msg> = (0..12).map(|s| msg(s, Role::User, 10, &[])).collect();
    m[0].role = Role::System;
    m[1].entities = vec!["x"];
    m[2].entities = vec!["x"];
    // Budget 40: system (0), then recent 11 and 10 (recent = 2), then the
    // entity candidates by seq desc: 2 fits (40 tokens), 1 does not.
    let r = ReplayRequest {
        max_tokens: Some(40),
        recent: Some(2),
        ..request(Strategy::Hybrid)
    };
    assert_eq!(seqs(&m, &r), vec![0, 2, 10, 11]);
    assert_eq!(select(&m, &r).focus, vec!["x"]);
    // The default budget: ceil(0.3 * 120) = 36 tokens: 3 messages, system first.
    assert_eq!(seqs(&m, &request(Strategy::Hybrid)), vec![0, 10, 11]);
    // A message too large is skipped and smaller ones later in the order still go in.
    m[11].tokens = 100;
    let r = ReplayRequest {
        max_tokens: Some(30),
        ..request(Strategy::Hybrid)
    };
    assert_eq!(seqs(&m, &r), vec![0, 9, 10]);
    // max_messages caps the count across every tier.
    let r = ReplayRequest {
        max_messages: Some(1),
        ..request(Strategy::Hybrid)
    };
    assert_eq!(seqs(&m, &r), vec![0]);
}

#[test]
fn hybrid_budget_is_at_least_one_token() {
    let m = vec![msg(0, Role::User, 0, &[]), msg(1, Role::User, 1, &[])];
    // ceil(0.3 * 1) = 1: both fit (0 + 1 tokens).
    assert_eq!(seqs(&m, &request(Strategy::Hybrid)), vec![0, 1]);
    let zero = vec![msg(0, Role::User, 0, &[])];
    assert_eq!(seqs(&zero, &request(Strategy::Hybrid)), vec![0]);
    let s = selection_stats(&zero, &select(&zero, &request(Strategy::Hybrid)));
    assert_eq!(s.compression_ratio, 1.0);
    assert_eq!(s.entity_coverage, 1.0);
}

#[test]
fn stats_count_roles_gaps_and_top_entities() {
    let mut m = vec![
        msg(0, Role::System, 3, &["b"]),
        msg(2, Role::User, 4, &["a", "b"]),
        msg(5, Role::Assistant, 5, &["a", "b"]),
    ];
    m[2].provider = Some("p");
    let s = conversation_stats(&m).unwrap();
    assert_eq!(s.by_role, [(1, 4), (1, 5), (1, 3), (0, 0)]);
    assert_eq!(s.missing_seqs, 3);
    assert_eq!(s.top_entities, vec![("b", 3), ("a", 2)]);
    assert_eq!(s.providers, vec!["p"]);
    let sel = select(
        &m,
        &ReplayRequest {
            max_messages: Some(1),
            ..request(Strategy::Window)
        },
    );
    let st = selection_stats(&m, &sel);
    assert_eq!((st.selected_tokens, st.total_tokens), (5, 12));
    assert_eq!(st.omitted_entities, Vec::<String>::new());
    assert!(conversation_stats(&[]).is_none());
}
