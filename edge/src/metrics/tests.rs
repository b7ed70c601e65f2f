use super::*;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Metrics>();
    check::<Arc<Metrics>>();
}

#[test]
fn index_functions_match_the_lists() {
    for (i, s) in STATUSES.iter().enumerate() {
        assert_eq!(status_index(*s), Some(i));
    }
    for (i, t) in TIERS.iter().enumerate() {
        assert_eq!(tier_index(t), Some(i));
    }
    for (i, t) in TRIM_REASONS.iter().enumerate() {
        assert_eq!(trim_index(t), Some(i));
    }
    for (i, t) in ADDRESS_SOURCES.iter().enumerate() {
        assert_eq!(source_index(t), Some(i));
    }
    for (i, t) in ADDRESS_EVENTS.iter().enumerate() {
        assert_eq!(event_index(t), Some(i));
    }
    for (i, t) in REJECT_REASONS.iter().enumerate() {
        assert_eq!(reject_index(t), Some(i));
    }
    for (i, t) in POLL_RESULTS.iter().enumerate() {
        assert_eq!(poll_index(t), Some(i));
    }
    for (i, t) in WRITE_RESULTS.iter().enumerate() {
        assert_eq!(write_index(t), Some(i));
    }
    for (i, t) in TIMEOUT_KINDS.iter().enumerate() {
        assert_eq!(timeout_index(t), Some(i));
    }
    for (i, e) in Endpoint::ALL.iter().enumerate() {
        assert_eq!(*e as usize, i);
    }
    for (i, o) in Output::ALL.iter().enumerate() {
        assert_eq!(*o as usize, i);
    }
}

#[test]
fn every_metric_name_is_present() {
    let m = Metrics::new("1.2.3");
    m.set_geoip("GeoLite2-Country", 1_700_000_000, Some(false));
    m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
    let text = m.encode();
    for name in [
        "requests_total",
        "request_duration_seconds_bucket",
        "request_duration_seconds_sum",
        "request_duration_seconds_count",
        "answers_total",
        "first_tier_total",
        "tier_used_total",
        "global_fallback_total",
        "hosts_trimmed_total",
        "client_address_events_total",
        "countme_total",
        "requests_by_repo_total",
        "countme_invalid_total",
        "snapshot_version",
        "snapshot_created_timestamp_seconds",
        "snapshot_age_seconds",
        "snapshot_load_duration_seconds",
        "snapshot_loads_total",
        "snapshot_rejected_total",
        "manifest_polls_total",
        "geoip_info",
        "geoip_mismatch",
        "stats_writes_total",
        "report_writes_total",
        "stats_rows_dropped_total",
        "connections_open",
        "timeouts_total",
        "panics_total",
        "ready",
        "build_info",
    ] {
        let full = format!("\n{PREFIX}_{name}");
        assert!(text.contains(&full), "{full} missing in:\n{text}");
    }
    assert!(!text.contains("_total_total"));
    assert!(
        text.contains("mirrorfleet_edge_build_info{version=\"1.2.3\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "mirrorfleet_edge_geoip_info{database_type=\"GeoLite2-Country\",build_epoch=\"1700000000\"} 1\n"
    ));
    assert!(
        text.contains("mirrorfleet_edge_requests_total{endpoint=\"other\",status=\"503\"} 0\n")
    );
    assert!(text.contains("mirrorfleet_edge_first_tier_total{tier=\"none\"} 0\n"));
    assert!(text.contains(
        "mirrorfleet_edge_client_address_events_total{source=\"ip_param\",event=\"malformed\"} 0\n"
    ));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn counters_move() {
    let m = Metrics::new("t");
    m.request(Endpoint::Metalink, 200, 0.0002);
    m.request(Endpoint::Metalink, 200, 0.003);
    m.request(Endpoint::Other, 404, 0.00001);
    m.request(Endpoint::Mirrorlist, 418, 0.1);
    m.answer(Output::Metalink4);
    m.first_tier("country");
    m.tier_used("country");
    m.tier_used("global");
    m.global_fallback();
    m.trimmed("duplicate", 3);
    m.address_event("x_forwarded_for", "untrusted_peer");
    m.countme_invalid();
    m.snapshot_rejected("hash");
    m.manifest_poll("unchanged");
    m.stats_write("ok");
    m.report_write("error");
    m.stats_rows_dropped(7);
    m.connection_opened();
    m.connection_opened();
    m.connection_closed();
    m.timeout("header_read");
    m.panic();
    m.set_ready(true);
    let t = m.encode();
    let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
    assert_eq!(
        p("requests_total{endpoint=\"metalink\",status=\"200\"}"),
        Some(2.0)
    );
    assert_eq!(
        p("requests_total{endpoint=\"other\",status=\"404\"}"),
        Some(1.0)
    );
    assert_eq!(
        p("requests_total{endpoint=\"mirrorlist\",status=\"418\"}"),
        Some(1.0)
    );
    assert_eq!(
        p("request_duration_seconds_count{endpoint=\"metalink\"}"),
        Some(2.0)
    );
    assert_eq!(p("answers_total{output=\"metalink4\"}"), Some(1.0));
    assert_eq!(p("answers_total{output=\"metalink3\"}"), Some(0.0));
    assert_eq!(p("first_tier_total{tier=\"country\"}"), Some(1.0));
    assert_eq!(p("tier_used_total{tier=\"global\"}"), Some(1.0));
    assert_eq!(p("global_fallback_total"), Some(1.0));
    assert_eq!(p("hosts_trimmed_total{reason=\"duplicate\"}"), Some(3.0));
    assert_eq!(
        p("client_address_events_total{source=\"x_forwarded_for\",event=\"untrusted_peer\"}"),
        Some(1.0)
    );
    assert_eq!(p("countme_invalid_total"), Some(1.0));
    assert_eq!(p("snapshot_loads_total{result=\"rejected\"}"), Some(1.0));
    assert_eq!(p("snapshot_rejected_total{reason=\"hash\"}"), Some(1.0));
    assert_eq!(p("manifest_polls_total{result=\"unchanged\"}"), Some(1.0));
    assert_eq!(p("stats_writes_total{result=\"ok\"}"), Some(1.0));
    assert_eq!(p("report_writes_total{result=\"error\"}"), Some(1.0));
    assert_eq!(p("stats_rows_dropped_total"), Some(7.0));
    assert_eq!(p("connections_open"), Some(1.0));
    assert_eq!(p("timeouts_total{kind=\"header_read\"}"), Some(1.0));
    assert_eq!(p("panics_total"), Some(1.0));
    assert_eq!(p("ready"), Some(1.0));
    m.set_ready(false);
    assert_eq!(sample(&m.encode(), &format!("{PREFIX}_ready")), Some(0.0));
}

#[test]
fn countme_after_three_calls() {
    let m = Metrics::new("t");
    m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
    for _ in 0..3 {
        m.countme("fedora-40", "x86_64", 1);
        m.request_by_repo("fedora-40", "x86_64");
    }
    m.countme("fedora-40", "x86_64", 4);
    m.request_by_repo("fedora-40", "x86_64");
    let t = m.encode();
    assert!(
        t.contains(
            "mirrorfleet_edge_countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"1\"} 3\n"
        ),
        "{t}"
    );
    assert!(t.contains(
        "mirrorfleet_edge_countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"4\"} 1\n"
    ));
    assert!(t.contains(
        "mirrorfleet_edge_requests_by_repo_total{repo=\"fedora-40\",arch=\"x86_64\"} 4\n"
    ));
}

#[test]
fn unprepared_repo_keys_are_learned_and_survive_a_new_table() {
    let m = Metrics::new("t");
    m.countme("?", "?", 2);
    m.countme("?", "?", 2);
    assert!(m.repos.load().get("?").and_then(|a| a.get("?")).is_some());
    // A new snapshot: the series keeps its value.
    m.prepare_repos(&[
        ("?".into(), "?".into()),
        ("epel-9".into(), "aarch64".into()),
    ]);
    m.countme("?", "?", 2);
    let t = m.encode();
    assert!(
        t.contains("mirrorfleet_edge_countme_total{repo=\"?\",arch=\"?\",bucket=\"2\"} 3\n"),
        "{t}"
    );
    assert!(
        t.contains("mirrorfleet_edge_requests_by_repo_total{repo=\"epel-9\",arch=\"aarch64\"} 0\n")
    );
}

/// `(le, cumulative count)` of the metalink buckets, `le` as written.
fn metalink_buckets(text: &str) -> Vec<(String, f64)> {
    let start = format!("{PREFIX}_request_duration_seconds_bucket{{le=\"");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&start)?;
            let (le, rest) = rest.split_once('"')?;
            let value = rest.strip_prefix(",endpoint=\"metalink\"} ")?;
            Some((le.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn histogram_has_the_50us_bucket() {
    let m = Metrics::new("t");
    m.request(Endpoint::Metalink, 200, 0.00004);
    m.request(Endpoint::Metalink, 200, 0.00005);
    m.request(Endpoint::Metalink, 200, 0.0006);
    m.request(Endpoint::Metalink, 200, 2.0);
    let t = m.encode();
    let buckets = metalink_buckets(&t);
    assert_eq!(buckets.len(), 15, "{t}");
    let bucket = |bound: f64| {
        buckets
            .iter()
            .find(|(le, _)| le.parse::<f64>().ok() == Some(bound))
            .map(|b| b.1)
    };
    assert_eq!(buckets[0].0.parse::<f64>().ok(), Some(0.000_05), "{t}");
    assert_eq!(bucket(0.000_05), Some(2.0), "{t}");
    assert!(t.contains(
        "mirrorfleet_edge_request_duration_seconds_bucket{le=\"0.00005\",endpoint=\"metalink\"} 2\n"
    ));
    assert_eq!(bucket(0.001), Some(3.0));
    assert_eq!(bucket(1.0), Some(3.0));
    assert_eq!(buckets[14], ("+Inf".to_owned(), 4.0));
    assert_eq!(
        sample(
            &t,
            &format!("{PREFIX}_request_duration_seconds_count{{endpoint=\"metalink\"}}")
        ),
        Some(4.0)
    );
    let sum = sample(
        &t,
        &format!("{PREFIX}_request_duration_seconds_sum{{endpoint=\"metalink\"}}"),
    )
    .unwrap();
    assert!((sum - 2.00069).abs() < 1e-9, "{sum}");
    assert!(t.contains("# TYPE mirrorfleet_edge_request_duration_seconds histogram\n"));
    // Fifteen buckets (14 bounds + +Inf) for each of the seven endpoints.
    assert_eq!(
        t.matches("request_duration_seconds_bucket{").count(),
        15 * 7
    );
}

#[test]
fn snapshot_gauges_and_age() {
    let m = Metrics::new("t");
    let t = m.encode();
    assert_eq!(
        sample(&t, &format!("{PREFIX}_snapshot_age_seconds")),
        Some(0.0)
    );
    assert_eq!(sample(&t, &format!("{PREFIX}_snapshot_version")), Some(0.0));
    let created = now_unix() - 100;
    m.snapshot_loaded(1204, created, 0.25);
    let t = m.encode();
    let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
    assert_eq!(p("snapshot_version"), Some(1204.0));
    assert_eq!(
        p("snapshot_created_timestamp_seconds"),
        Some(created as f64)
    );
    assert_eq!(p("snapshot_load_duration_seconds"), Some(0.25));
    assert_eq!(p("snapshot_loads_total{result=\"ok\"}"), Some(1.0));
    let age = p("snapshot_age_seconds").unwrap();
    assert!((100.0..=105.0).contains(&age), "{age}");
}

#[test]
fn geoip_series_is_replaced() {
    let m = Metrics::new("t");
    m.set_geoip("GeoLite2-Country", 1, None);
    m.set_geoip("GeoLite2-City", 2, Some(true));
    let t = m.encode();
    assert!(!t.contains("build_epoch=\"1\""), "{t}");
    assert!(t.contains(
        "mirrorfleet_edge_geoip_info{database_type=\"GeoLite2-City\",build_epoch=\"2\"} 1\n"
    ));
    assert_eq!(sample(&t, &format!("{PREFIX}_geoip_mismatch")), Some(1.0));
    m.set_geoip("GeoLite2-City", 2, Some(false));
    m.clear_geoip();
    let t = m.encode();
    assert!(!t.contains("mirrorfleet_edge_geoip_info{"), "{t}");
    assert_eq!(sample(&t, &format!("{PREFIX}_geoip_mismatch")), Some(0.0));
}

#[test]
fn unknown_labels_do_not_panic() {
    let m = Metrics::new("t");
    m.first_tier("nope");
    m.tier_used("");
    m.trimmed("\u{0}weird\"", u64::MAX);
    m.address_event("peer", "used");
    m.address_event("x_forwarded_for", "absent");
    m.snapshot_rejected("cosmic_rays");
    m.manifest_poll("maybe");
    m.stats_write("partial");
    m.report_write("");
    m.timeout("forever");
    m.countme("fedora-40", "x86_64", 0);
    m.countme("fedora-40", "x86_64", 5);
    m.countme("fedora-40", "x86_64", u8::MAX);
    m.request(Endpoint::Other, 0, f64::NAN);
    m.request(Endpoint::Other, u16::MAX, -1.0);
    m.request(Endpoint::Other, 200, f64::INFINITY);
    m.set_geoip("", 0, None);
    m.connection_closed();
    let t = m.encode();
    let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
    assert_eq!(p("countme_invalid_total"), Some(3.0));
    assert_eq!(p("snapshot_loads_total{result=\"rejected\"}"), Some(1.0));
    assert_eq!(
        p("request_duration_seconds_count{endpoint=\"other\"}"),
        Some(3.0)
    );
    assert_eq!(
        p("request_duration_seconds_sum{endpoint=\"other\"}"),
        Some(0.0)
    );
    assert!(!t.contains("nope") && !t.contains("cosmic") && !t.contains("forever"));
    assert!(!t.contains("repo=\"fedora-40\""));
}

#[test]
fn concurrent_recording() {
    let m = Arc::new(Metrics::new("t"));
    m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    m.request(Endpoint::Metalink, 200, 0.001);
                    m.countme("fedora-40", "x86_64", 1);
                    m.countme("?", if i % 2 == 0 { "?" } else { "x86_64" }, 3);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let t = m.encode();
    let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
    assert_eq!(
        p("requests_total{endpoint=\"metalink\",status=\"200\"}"),
        Some(4000.0)
    );
    assert_eq!(
        p("countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"1\"}"),
        Some(4000.0)
    );
    assert_eq!(
        p("countme_total{repo=\"?\",arch=\"?\",bucket=\"3\"}"),
        Some(2000.0)
    );
    assert_eq!(
        p("countme_total{repo=\"?\",arch=\"x86_64\",bucket=\"3\"}"),
        Some(2000.0)
    );
    let sum = p("request_duration_seconds_sum{endpoint=\"metalink\"}").unwrap();
    assert!((sum - 4.0).abs() < 1e-6, "{sum}");
}
