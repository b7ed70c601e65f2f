//! The load-test harness's smoke run (`mirrorfleet-loadtest bench --quick`), as CI runs it: the
//! small dataset, the real edge and the baseline side by side for a second each, 50 swaps of a
//! store-mode edge under load, and the report with its charts. Timings on a shared CI machine
//! mean nothing, so only the report's shape and the zero-error swap row are checked.

use std::time::Duration;

use mirrorfleet_tests::{binary_command, binary_path, run_with_timeout};

#[test]
fn bench_quick_writes_a_complete_report() {
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("report.md");
    std::fs::write(
        &report,
        "# Benchmarks\n\nHand-written text that must survive.\n\n\
         <!-- bench:begin (written by `mirrorfleet-loadtest bench`; edit outside) -->\nold\n<!-- bench:end -->\n\nAfter.\n",
    )
    .unwrap();
    let edge = binary_path("mirrorfleet-edge");
    let mut cmd = binary_command("mirrorfleet-loadtest", work.path());
    cmd.args(["bench", "--quick", "--no-pin", "--edge-bin"])
        .arg(&edge)
        .arg("--work")
        .arg(work.path().join("suite"))
        .arg("--report")
        .arg(&report);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300)).assert_success();
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nHand-written text that must survive."));
    assert!(text.trim_end().ends_with("After."), "{text}");
    assert!(
        !text.contains("\nold\n"),
        "the old section is replaced:\n{text}"
    );
    for row in [
        "| realistic mix, closed loop: edge ÷ baseline throughput | ≥ 0.35 |",
        "| CPU per full metalink",
        "| p99 latency at 50 % of the edge's max throughput (open loop) | ≤ 2 ms |",
        "| edge RSS with the small snapshot after the run | ≤ 300 MB |",
        "| snapshot load to swap |",
        "| errors during 50 swaps under load | 0 | 0 of ",
        "| small | ",
        "![Latency percentiles per scale](bench-latency.svg)",
    ] {
        assert!(
            text.contains(row),
            "the report lacks {row:?}:\n{text}\n{out}"
        );
    }
    let swap_row = text
        .lines()
        .find(|l| l.starts_with("| errors during 50 swaps"))
        .unwrap();
    assert!(swap_row.ends_with("| met |"), "{swap_row}");
    for svg in ["bench-latency.svg", "bench-scales.svg"] {
        let body = std::fs::read_to_string(work.path().join(svg)).unwrap();
        let doc = roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("{svg}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(
            doc.descendants().filter(|n| n.has_tag_name("rect")).count() >= 1,
            "{svg} draws no bar"
        );
    }
    assert!(binary_path("mirrorfleet-loadtest").is_file());
}
