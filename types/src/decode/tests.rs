//! One test per rejection rule of the contract, plus the accepted forms.

use super::*;

fn msg(extra: &str) -> String {
    let base = r#""type":"message","event_id":"m1","ts":"2026-01-30T12:00:00.123Z","conversation_id":"c1","session_id":"s1","user_id":"u1","seq":0,"role":"user","content":"hi","tokens":3"#;
    if extra.is_empty() {
        format!("{{{base}}}")
    } else {
        format!("{{{base},{extra}}}")
    }
}

fn reason(input: &str) -> RejectReason {
    match decode_event(input.as_bytes()) {
        Ok(e) => panic!("accepted {input}: {e:?}"),
        Err(r) => r.reason,
    }
}

#[test]
fn accepts_a_full_message_and_ignores_unknown_fields() {
    let e = decode_event(
        msg(r#""provider":"openai","latency_ms":null,"entities":[{"id":"e1","name":"A","kind":"k","x":1}],"future_field":{"a":[1]}"#)
            .as_bytes(),
    )
    .unwrap();
    let Event::Message(m) = e else {
        panic!("not a message")
    };
    assert_eq!(m.provider.as_deref(), Some("openai"));
    assert_eq!(m.latency_ms, None);
    assert_eq!(m.entities.len(), 1);
    assert_eq!(
        m.ts,
        crate::timestamp::parse_rfc3339("2026-01-30T12:00:00.123Z").unwrap()
    );
}

#[test]
fn invalid_json_and_not_objects() {
    assert_eq!(reason("{\"type\":"), RejectReason::InvalidJson);
    assert_eq!(reason(""), RejectReason::InvalidJson);
    assert_eq!(reason("not json"), RejectReason::InvalidJson);
    assert_eq!(
        decode_event(b"{\"type\":\"message\xff\"}")
            .unwrap_err()
            .reason,
        RejectReason::InvalidJson
    );
    assert_eq!(reason("[1,2]"), RejectReason::NotAnObject);
    assert_eq!(reason("\"str\""), RejectReason::NotAnObject);
    assert_eq!(reason("42"), RejectReason::NotAnObject);
}

#[test]
fn type_rules() {
    assert_eq!(
        reason(r#"{"event_id":"x","ts":"2026-01-30T12:00:00Z"}"#),
        RejectReason::MissingField
    );
    assert_eq!(reason(r#"{"type":7}"#), RejectReason::WrongType);
    assert_eq!(
        reason(r#"{"type":"telemetry","event_id":"x"}"#),
        RejectReason::UnknownType
    );
}

#[test]
fn missing_required_fields() {
    for field in [
        "event_id",
        "ts",
        "conversation_id",
        "session_id",
        "user_id",
        "seq",
        "role",
        "content",
        "tokens",
    ] {
        let full = msg("");
        let v: serde_json::Value = serde_json::from_str(&full).unwrap();
        let mut obj = v.as_object().unwrap().clone();
        obj.remove(field);
        let text = serde_json::Value::Object(obj).to_string();
        let err = decode_event(text.as_bytes()).unwrap_err();
        assert_eq!(err.reason, RejectReason::MissingField, "{field}");
        assert!(err.detail.contains(field), "{}", err.detail);
    }
}

#[test]
fn null_is_absent_on_optional_and_wrong_type_on_required() {
    assert!(decode_event(msg(r#""provider":null,"entities":null"#).as_bytes()).is_ok());
    let text = msg("").replace(r#""tokens":3"#, r#""tokens":null"#);
    assert_eq!(reason(&text), RejectReason::WrongType);
}

#[test]
fn integers_take_integers_only() {
    for (bad, want) in [
        ("3.0", RejectReason::WrongType),
        ("1e2", RejectReason::WrongType),
        ("true", RejectReason::WrongType),
        ("\"3\"", RejectReason::WrongType),
        ("-1", RejectReason::OutOfRange),
        ("4294967296", RejectReason::OutOfRange),
    ] {
        let text = msg("").replace(r#""tokens":3"#, &format!(r#""tokens":{bad}"#));
        assert_eq!(reason(&text), want, "tokens = {bad}");
    }
    let big = msg("").replace(r#""seq":0"#, r#""seq":18446744073709551616"#);
    assert_eq!(reason(&big), RejectReason::OutOfRange);
    let max = msg("").replace(r#""seq":0"#, r#""seq":18446744073709551615"#);
    assert!(decode_event(max.as_bytes()).is_ok());
}

#[test]
fn enumerations_are_out_of_range_when_unknown() {
    assert_eq!(
        reason(&msg("").replace("\"user\"", "\"bot\"")),
        RejectReason::OutOfRange
    );
    let mem = r#"{"type":"memory","event_id":"e","ts":"2026-01-30T12:00:00Z","op":"upsert","memory_id":"m","user_id":"u","node_id":"n","lamport":1,"content":"c"}"#;
    assert_eq!(reason(mem), RejectReason::OutOfRange);
    let strat = r#"{"type":"memory","event_id":"e","ts":"2026-01-30T12:00:00Z","op":"add","memory_id":"m","user_id":"u","node_id":"n","lamport":1,"content":"c","strategy":"fifo"}"#;
    assert_eq!(reason(strat), RejectReason::OutOfRange);
}

#[test]
fn timestamps_that_do_not_parse_are_out_of_range() {
    assert_eq!(
        reason(&msg("").replace("2026-01-30T12:00:00.123Z", "2026-01-30 12:00:00Z")),
        RejectReason::OutOfRange
    );
    assert_eq!(
        reason(&msg("").replace("\"2026-01-30T12:00:00.123Z\"", "1700000000")),
        RejectReason::WrongType
    );
}

#[test]
fn memory_content_required_for_add_and_update_only() {
    let del = r#"{"type":"memory","event_id":"e","ts":"2026-01-30T12:00:00Z","op":"delete","memory_id":"m","user_id":"u","node_id":"n","lamport":1}"#;
    assert!(decode_event(del.as_bytes()).is_ok());
    let add = del.replace("delete", "add");
    assert_eq!(reason(&add), RejectReason::MissingField);
    let tags = add.replace(
        "\"lamport\":1",
        "\"lamport\":1,\"content\":\"c\",\"tags\":[\"a\",2]",
    );
    assert_eq!(reason(&tags), RejectReason::WrongType);
}

#[test]
fn entity_mentions_need_string_id_name_kind() {
    assert_eq!(
        reason(&msg(r#""entities":[{"id":"e1","name":"A"}]"#)),
        RejectReason::MissingField
    );
    assert_eq!(
        reason(&msg(r#""entities":[{"id":1,"name":"A","kind":"k"}]"#)),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(&msg(r#""entities":{"id":"e1"}"#)),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(&msg(r#""entities":["e1"]"#)),
        RejectReason::WrongType
    );
}

#[test]
fn provider_call_rules() {
    let ok = r#"{"type":"provider_call","event_id":"p","ts":"2026-01-30T12:00:00Z","provider":"openai","model":"gpt","latency_ms":120,"tokens_in":1,"tokens_out":2,"cost_usd":0.5,"success":false,"error":"timeout"}"#;
    assert!(decode_event(ok.as_bytes()).is_ok());
    assert_eq!(reason(&ok.replace("0.5", "-0.5")), RejectReason::OutOfRange);
    assert_eq!(
        reason(&ok.replace("0.5", "\"0.5\"")),
        RejectReason::WrongType
    );
    assert_eq!(reason(&ok.replace("false", "0")), RejectReason::WrongType);
    assert_eq!(
        reason(&ok.replace("\"latency_ms\":120,", "")),
        RejectReason::MissingField
    );
    assert!(
        decode_event(ok.replace("0.5", "1").as_bytes()).is_ok(),
        "f64 takes integers"
    );
}

#[test]
fn entity_properties_must_be_an_object_of_scalars() {
    let ok = r#"{"type":"entity","event_id":"e","ts":"2026-01-30T12:00:00Z","entity_id":"x","name":"X","kind":"k","properties":{"a":1,"b":"s","c":true,"d":null}}"#;
    assert!(decode_event(ok.as_bytes()).is_ok());
    assert_eq!(
        reason(&ok.replace("\"a\":1", "\"a\":[1]")),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(&ok.replace("{\"a\":1,\"b\":\"s\",\"c\":true,\"d\":null}", "[1]")),
        RejectReason::WrongType
    );
}

#[test]
fn debate_and_relationship_rules() {
    let d = r#"{"type":"debate_round","event_id":"d","ts":"2026-01-30T12:00:00Z","debate_id":"d1","conversation_id":"c","provider":"p","model":"m","round":1,"score":0.5}"#;
    let Event::DebateRound(round) = decode_event(d.as_bytes()).unwrap() else {
        panic!()
    };
    assert!(!round.consensus);
    assert_eq!(
        reason(&d.replace("\"round\":1", "\"round\":-1")),
        RejectReason::OutOfRange
    );
    assert_eq!(
        reason(&d.replace("0.5", "\"high\"")),
        RejectReason::WrongType
    );
    let r = r#"{"type":"relationship","event_id":"r","ts":"2026-01-30T12:00:00Z","source_id":"a","target_id":"b","rel_type":"knows","weight":-2.5}"#;
    assert!(decode_event(r.as_bytes()).is_ok());
    assert_eq!(
        reason(&r.replace(",\"weight\":-2.5", "")),
        RejectReason::MissingField
    );
}

#[test]
fn keys_are_scoped_by_type_and_fingerprints_see_payload() {
    let a = decode_event(msg("").as_bytes()).unwrap();
    let b = decode_event(msg("").replace("\"m1\"", "\"m2\"").as_bytes()).unwrap();
    assert_eq!(
        a.key_digest(),
        b.key_digest(),
        "message key is conversation_id + seq"
    );
    assert_ne!(a.payload_fingerprint(), b.payload_fingerprint());
    let p = r#"{"type":"provider_call","event_id":"m1","ts":"2026-01-30T12:00:00Z","provider":"o","model":"g","latency_ms":1,"tokens_in":1,"tokens_out":2,"cost_usd":0.5,"success":true}"#;
    let d = r#"{"type":"debate_round","event_id":"m1","ts":"2026-01-30T12:00:00Z","debate_id":"d1","conversation_id":"c","provider":"p","model":"m","round":1,"score":0.5}"#;
    assert_ne!(
        decode_event(p.as_bytes()).unwrap().key_digest(),
        decode_event(d.as_bytes()).unwrap().key_digest()
    );
    let spaced = msg("").replace(",", " , ");
    assert_eq!(
        decode_event(spaced.as_bytes())
            .unwrap()
            .payload_fingerprint(),
        a.payload_fingerprint()
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    const SAMPLES: [&str; 3] = [
        r#"{"type":"message","event_id":"m1","ts":"2026-01-30T12:00:00.123Z","conversation_id":"c1","session_id":"s1","user_id":"u1","seq":0,"role":"user","content":"hi","tokens":3,"entities":[{"id":"e","name":"n","kind":"k"}]}"#,
        r#"{"type":"memory","event_id":"e","ts":"2026-01-30T12:00:00+05:30","op":"add","memory_id":"m","user_id":"u","node_id":"n","lamport":1,"content":"c","tags":["a"],"strategy":"merge_all"}"#,
        r#"{"type":"entity","event_id":"e","ts":"2026-01-30T12:00:00Z","entity_id":"x","name":"X","kind":"k","properties":{"a":1.5e3}}"#,
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_event(&bytes);
        }

        #[test]
        fn mutated_valid_events(which in 0usize..3, at in any::<prop::sample::Index>(), len in 0usize..8, with in "[\\x00-\\x7f\u{80}-\u{10ffff}]{0,6}") {
            let mut text = SAMPLES[which].to_owned();
            let mut start = at.index(text.len());
            while !text.is_char_boundary(start) { start -= 1; }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(start..end, &with);
            match decode_event(text.as_bytes()) {
                Ok(e) => { let _ = (e.key_digest(), e.payload_fingerprint()); }
                Err(r) => prop_assert!(!r.detail.is_empty()),
            }
        }
    }
}
