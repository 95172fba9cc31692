//! API tests over a real socket: a running engine fed from a file, the hyper
//! server on a free loopback port, and a plain HTTP/1.1 client. The views
//! served must equal `replay`'s files; paging must reconstruct them; errors
//! must carry stable codes.

mod common;

use common::http::{get, post};

use helixflow_api::server::ApiServer;
use helixflow_engine::replay::{replay, ReplayInput, ReplaySpec};
use helixflow_engine::run::EngineReader;
use helixflow_operators::views::ViewSet;
use std::sync::Arc;

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn api_serves_consistent_views_pages_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lines = common::test_lines(5, 3000);
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    replay(ReplaySpec {
        input: ReplayInput::Files(vec![input.clone()]),
        out: dir.path().join("replay"),
        workers: 1,
        epoch_lines: 1_000_000,
        progress: false,
        views: helixflow_operators::views::ViewSet::all(),
        cluster: None,
        timeouts: Default::default(),
    })
    .unwrap();

    let engine = common::file_engine("events", vec![input], false);
    engine.wait_complete();
    let reader = Arc::new(EngineReader::new(
        Arc::clone(&engine.shared),
        engine.kafka.clone(),
        ViewSet::all(),
        "test",
    ));
    let server = ApiServer::start("127.0.0.1:0".parse().unwrap(), reader).unwrap();
    let addr = server.addr();

    for view in helixflow_types::topology::VIEW_NAMES {
        let expected =
            std::fs::read_to_string(dir.path().join("replay").join(format!("{view}.jsonl")))
                .unwrap();
        let full = get(addr, &format!("/v1/views/{view}"));
        assert_eq!(full.status, 200, "{view}");
        assert_eq!(full.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(full.body, expected, "{view}: API equals replay");
        let positions: serde_json::Value =
            serde_json::from_str(full.header("helixflow-positions").unwrap()).unwrap();
        assert_eq!(
            positions["events"]["line"],
            lines.len() as u64,
            "{view}: reflects the whole file"
        );

        // Paging with limit/after reconstructs the view exactly.
        let mut paged = String::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let target = match &after {
                None => format!("/v1/views/{view}?limit=97"),
                Some(a) => format!("/v1/views/{view}?limit=97&after={}", enc(a)),
            };
            let page = get(addr, &target);
            assert_eq!(page.status, 200, "{target}: {}", page.body);
            paged.push_str(&page.body);
            pages += 1;
            match page.header("helixflow-next-after") {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, expected, "{view}: pages concatenate to the view");
        assert!(pages >= expected.lines().count() / 97, "{view}: paged");

        // A single row by key.
        if let Some(first) = expected.lines().next() {
            let row: serde_json::Value = serde_json::from_str(first).unwrap();
            let path: Vec<String> = common::key_fields(view)
                .iter()
                .map(|k| enc(row[k].as_str().unwrap()))
                .collect();
            let one = get(addr, &format!("/v1/views/{view}/{}", path.join("/")));
            assert_eq!(one.status, 200, "{view}: {}", one.body);
            assert_eq!(one.body, first);
        }
    }

    let conv = get(addr, &format!("/v1/conversations/{}", enc("会話-1")));
    assert_eq!(conv.status, 200, "{}", conv.body);
    let conv: serde_json::Value = serde_json::from_str(&conv.body).unwrap();
    assert_eq!(conv["message_count"], 2);

    for (target, status, code) in [
        ("/v1/views/nope", 404, "unknown_view"),
        ("/v1/views/memory_state?limit=0", 400, "bad_limit"),
        ("/v1/views/memory_state?limit=ten", 400, "bad_limit"),
        ("/v1/views/memory_state?page=2", 400, "unknown_parameter"),
        ("/v1/views/provider_stats?after=openai", 400, "bad_after"),
        ("/v1/views/provider_stats/openai", 400, "bad_key"),
        ("/v1/views/entity_cooccurrence/b/a", 400, "bad_key"),
        ("/v1/views/memory_state/no-such-memory", 404, "not_found"),
        ("/v1/conversations/%FF", 400, "bad_key"),
        ("/v2/anything", 404, "not_found"),
    ] {
        let r = get(addr, target);
        assert_eq!(r.status, status, "{target}: {}", r.body);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"]["code"], code, "{target}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }

    // Context over the socket: the unicode conversation of test_lines has
    // two messages (seq 0 and 1) with 0 and 5 tokens.
    let replay = post(
        addr,
        "/v1/context/replay",
        &serde_json::json!({"conversation_id": "会話-1", "strategy": "full"}).to_string(),
    );
    assert_eq!(replay.status, 200, "{}", replay.body);
    let replay = replay.json();
    assert_eq!(replay["messages"].as_array().unwrap().len(), 2);
    assert_eq!(replay["messages"][1]["content"], "x");
    assert_eq!(
        replay["messages"][0]["entities"],
        serde_json::json!(["Zoë", "zed", "Åsa"])
    );
    assert_eq!(replay["stats"]["total_tokens"], 5);
    assert!(replay["as_of"].is_u64() && replay["positions"].is_object());
    let stats = get(addr, &format!("/v1/context/stats/{}", enc("会話-1"))).json();
    assert_eq!(stats["by_role"]["assistant"]["tokens"], 5);
    assert_eq!(
        stats["top_entities"][0],
        serde_json::json!({"id": "Zoë", "messages": 2})
    );
    for (body, status, code) in [
        (r#"{"conversation_id": "nope"}"#, 404, "not_found"),
        (
            r#"{"conversation_id": "nope", "max_tokens": 0}"#,
            400,
            "bad_max_tokens",
        ),
        (
            r#"{"conversation_id": "会話-1", "strategy": "all"}"#,
            400,
            "bad_strategy",
        ),
        (
            r#"{"conversation_id": "会話-1", "max_messages": 2.0}"#,
            400,
            "bad_max_messages",
        ),
        (r#"["not", "an", "object"]"#, 400, "bad_body"),
        ("", 400, "bad_body"),
    ] {
        let r = post(addr, "/v1/context/replay", body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], code, "{body}");
    }
    let big = format!(r#"{{"conversation_id": "{}"}}"#, "x".repeat(70_000));
    let r = post(addr, "/v1/context/replay", &big);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let r = post(addr, "/v1/views/memory_state", "");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let r = get(addr, "/v1/context/replay");
    assert_eq!(r.status, 405);

    // Knowledge and memory over the socket: answers and every error code.
    let related = get(addr, &format!("/v1/knowledge/related/{}", enc("Zoë"))).json();
    let partners: Vec<&str> = related["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        partners.contains(&"zed") && partners.contains(&"Åsa"),
        "{related}"
    );
    let found = post(addr, "/v1/knowledge/search", r#"{"query": " ZOË "}"#).json();
    assert_eq!(found["results"][0]["id"], "Zoë", "{found}");
    assert_eq!(found["results"][0]["match"], "exact");
    assert_eq!(found["query"], " ZOË ", "the query echoed as sent");
    let status = get(addr, "/v1/memory/sync/status").json();
    assert!(status["ops"].as_u64().unwrap() > 0 && status["kafka"] == serde_json::json!([]));
    for (method, target, body, status, code) in [
        ("GET", "/v1/knowledge/related/nobody", "", 404, "not_found"),
        (
            "GET",
            "/v1/knowledge/related/nobody?limit=0",
            "",
            400,
            "bad_limit",
        ),
        (
            "GET",
            "/v1/knowledge/related/x?depth=1",
            "",
            400,
            "unknown_parameter",
        ),
        (
            "POST",
            "/v1/knowledge/search",
            r#"{"query": "\t "}"#,
            400,
            "bad_query",
        ),
        (
            "POST",
            "/v1/knowledge/search",
            r#"{"query": "a", "kind": 1}"#,
            400,
            "bad_kind",
        ),
        (
            "POST",
            "/v1/knowledge/search",
            r#"{"query": "a", "limit": 1001}"#,
            400,
            "bad_limit",
        ),
        (
            "POST",
            "/v1/memory/sync/force",
            r#"{"timeout_ms": 1.5}"#,
            400,
            "bad_timeout_ms",
        ),
        (
            "GET",
            "/v1/memory/sync/status?x=1",
            "",
            400,
            "unknown_parameter",
        ),
    ] {
        let r = common::http::request(addr, method, target, body.as_bytes());
        assert_eq!(r.status, status, "{target} {body}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], code, "{target} {body}");
    }

    let health = get(addr, "/v1/health");
    assert_eq!(health.status, 200);
    let health: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(health["all_input_done"], true);
    assert!(health["rejected"]["total"].as_u64().unwrap() > 0);
    assert!(!health["rejected"]["last"].as_array().unwrap().is_empty());

    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    let valid_line = metrics
        .body
        .lines()
        .find(|l| l.starts_with("helixflow_valid_events_total "))
        .unwrap();
    let valid: u64 = valid_line.split(' ').nth(1).unwrap().parse().unwrap();
    let decodable = lines
        .iter()
        .filter(|l| helixflow_types::decode::decode_event(l.as_bytes()).is_ok())
        .count() as u64;
    assert_eq!(valid, decodable);
    assert!(metrics
        .body
        .contains("helixflow_rejected_events_total{source=\"events\",reason=\"invalid_json\"}"));
    assert!(
        metrics
            .body
            .contains("context_replay_duration_seconds_count{strategy=\"full\"}"),
        "the platform's replay histogram is exported"
    );
    assert!(
        metrics.body.contains(
            "http_request_duration_seconds_count{method=\"GET\",route=\"/v1/views/{name}\",status=\"200\"}"
        ),
        "requests are timed by route pattern"
    );
    assert!(metrics
        .body
        .contains("helixflow_component_state{component=\"source\",name=\"events\"} 0"));

    server.stop();
    engine.shutdown().unwrap();
}
