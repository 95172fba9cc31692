//! The API's defences over a real socket, on a running engine fed from a
//! file: a bearer token (401 without it or with a wrong one), a request
//! whose body never completes (408 once `request_timeout` passes), slow-loris
//! clients holding every connection slot (disconnected after
//! `header_timeout`), and a flood of requests over a small in-flight limit.
//! Through all of it another client's reads keep being answered.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use common::http::{get, request_with};
use helixflow_api::access::Access;
use helixflow_api::server::{ApiServer, ServeOptions};
use helixflow_engine::engine::Engine;
use helixflow_engine::run::EngineReader;
use helixflow_operators::views::ViewSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An engine that has read a generated file to its end.
fn engine(dir: &std::path::Path) -> Engine {
    let input = dir.join("events.jsonl");
    std::fs::write(&input, common::test_lines(11, 2000).join("\n") + "\n").unwrap();
    let engine = common::file_engine("events", vec![input], false);
    engine.wait_complete();
    engine
}

fn serve(engine: &Engine, options: ServeOptions) -> ApiServer {
    let reader = Arc::new(EngineReader::new(
        Arc::clone(&engine.shared),
        engine.kafka.clone(),
        ViewSet::all(),
        "limits-test",
    ));
    ApiServer::start_with(options, reader).unwrap()
}

fn options() -> ServeOptions {
    ServeOptions::new("127.0.0.1:0".parse().unwrap())
}

#[test]
fn a_token_is_required_and_compared_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let server = serve(
        &engine,
        ServeOptions {
            access: Access::token("a-long-test-token"),
            ..options()
        },
    );
    let addr = server.addr();
    for headers in [
        &[][..],
        &["Authorization: Bearer a-long-test-tokem"],
        &["Authorization: Bearer a-long-test-token-and-more"],
        &["Authorization: Basic YTpi"],
    ] {
        for target in ["/v1/health", "/v1/views/entities", "/metrics", "/nowhere"] {
            let r = request_with(addr, "GET", target, headers, b"");
            assert_eq!(r.status, 401, "{target} {headers:?}: {}", r.body);
            assert_eq!(r.json()["error"]["code"], "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
    let ok = ["Authorization: Bearer a-long-test-token"];
    let r = request_with(addr, "GET", "/v1/views/entities?limit=2", &ok, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = request_with(addr, "GET", "/v1/health", &ok, b"");
    assert_eq!(r.json()["status"], "ok");
    engine.shutdown().unwrap();
}

#[test]
fn a_body_that_never_completes_times_out_with_408() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let server = serve(
        &engine,
        ServeOptions {
            request_timeout: Duration::from_secs(1),
            ..options()
        },
    );
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        b"POST /v1/context/replay HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"conversation_id\"",
    )
    .unwrap();
    let mut answer = String::new();
    // The server answers and closes (or keeps the connection: read what came).
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    // Meanwhile and after, reads are answered.
    assert_eq!(get(server.addr(), "/v1/views/provider_stats").status, 200);
    engine.shutdown().unwrap();
}

/// Opens a connection and sends the start of a request's headers, never the end.
fn slow_loris(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /v1/views/entities HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    s
}

/// True once the server has closed `s` (end of stream or reset), waiting at most `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error answer before the close
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_loris_clients_are_cut_off_and_other_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let server = serve(
        &engine,
        ServeOptions {
            header_timeout: Duration::from_secs(1),
            max_connections: 8,
            ..options()
        },
    );
    let addr = server.addr();
    // Four times as many stalled clients as connection slots.
    let mut stalled: Vec<TcpStream> = (0..32).map(|_| slow_loris(addr)).collect();
    let reads = std::thread::spawn(move || {
        (0..10)
            .map(|_| get(addr, "/v1/views/memory_state").status)
            .collect::<Vec<_>>()
    });
    let statuses = reads.join().unwrap();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let cut = stalled
        .iter_mut()
        .map(|s| closed_by_server(s, Duration::from_secs(20)))
        .filter(|closed| *closed)
        .count();
    assert_eq!(cut, 32, "every stalled client is disconnected");
    engine.shutdown().unwrap();
}

#[test]
fn a_flood_of_requests_does_not_stop_another_clients_reads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let server = serve(
        &engine,
        ServeOptions {
            max_in_flight: 2,
            ..options()
        },
    );
    let addr = server.addr();
    let started = Instant::now();
    let flood: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| get(addr, "/v1/learning/insights").status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut mine = Vec::new();
    while flood.iter().any(|t| !t.is_finished()) && mine.len() < 50 {
        mine.push(get(addr, "/v1/views/provider_stats?limit=3").status);
    }
    let flooded: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(flooded.len(), 16 * 25);
    assert!(
        flooded.iter().all(|s| *s == 200),
        "the flood's own requests"
    );
    assert!(
        !mine.is_empty() && mine.iter().all(|s| *s == 200),
        "{mine:?}"
    );
    eprintln!(
        "flood: {} requests and {} of mine in {:?}",
        flooded.len(),
        mine.len(),
        started.elapsed()
    );
    engine.shutdown().unwrap();
}
