//! A committed corpus of tricky inputs for the four input parsers (E85): every
//! line must parse or be refused with an error, never panic. The property tests
//! next to each parser explore further; this list keeps known edge cases in CI.

use mirrorfleet_edge::request::accept::wants_metalink4;
use mirrorfleet_edge::request::client::{ProxyPolicy, resolve_client};
use mirrorfleet_edge::request::query::parse_query;

fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::to_string).collect()
}

#[test]
fn queries_and_paths() {
    let corpus = lines("query.txt");
    assert!(corpus.len() > 10);
    let mut accepted = 0;
    for q in &corpus {
        if parse_query(q).is_ok() {
            accepted += 1;
        }
    }
    // The corpus holds both kinds on purpose.
    assert!(
        accepted > 0 && accepted < corpus.len(),
        "{accepted} of {}",
        corpus.len()
    );
}

#[test]
fn forwarded_for() {
    let policy = ProxyPolicy {
        trusted_proxies: vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ],
        ip_param_networks: vec!["127.0.0.0/8".parse().unwrap()],
    };
    let peer = "127.0.0.1".parse().unwrap();
    for value in lines("xff.txt") {
        let c = resolve_client(&policy, peer, &[value.as_bytes()], None)
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert!(!c.requester.is_unspecified(), "{value:?}");
        // With ip= honoured, a bad value is a 400, never a panic.
        let _ = resolve_client(&policy, peer, &[value.as_bytes()], Some(&value));
    }
}

#[test]
fn accept_headers() {
    let mut v4 = 0;
    for value in lines("accept.txt") {
        if wants_metalink4(&[value.as_bytes()]) {
            v4 += 1;
        }
    }
    assert!(v4 >= 2, "metalink4 chosen {v4} times");
}
