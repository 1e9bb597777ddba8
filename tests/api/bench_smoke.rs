//! The benchmark (bench/) in smoke mode, so that it cannot rot:
//! the same generator, import, reads, ingest client and memory probe as
//! `bench/run.sh`, on a tiny dataset, against the real binary and SQLite.
//! wrk, nginx and the SQL command-line clients are not part of the test
//! suite's toolbox, so those steps are left out here (`external: false`);
//! everything else runs and checks its own answers (every read's session
//! count against the generator's, every ingested event accepted).
//! No timing is asserted: only that the numbers are there and sane.

use crate::ledger_bench::dataset::Plan;
use crate::ledger_bench::report;
use crate::ledger_bench::runner::{self, Config, StoreKind};

#[test]
fn the_benchmark_pipeline_runs_end_to_end_on_a_tiny_dataset() {
    let work = tempfile::tempdir().expect("temporary directory");
    let plan = Plan::smoke();
    let config = Config {
        bin: env!("CARGO_BIN_EXE_session-ledger").into(),
        work: work.path().to_path_buf(),
        plan: plan.clone(),
        stores: vec![StoreKind::Sqlite],
        external: false,
        wrk_seconds: 1,
        wrk_connections: 4,
        wrk_threads: 1,
        ingest_clients: 3,
        webhook_senders: 8,
        cold_samples: 1,
        warm_samples: 2,
        verbose: false,
    };
    let result =
        runner::run(&config).unwrap_or_else(|error| panic!("the pipeline failed: {error}"));
    let meta = &result.meta;
    assert_eq!(meta.busy_count, u64::from(plan.busy_sessions));
    assert!(
        meta.probe_count > 0,
        "the probe host holds sessions that month"
    );
    assert_eq!(meta.ingest_events, u64::from(plan.ingest_sessions) * 8);

    let store = &result.stores[0];
    assert!(store.import_base.lines_per_second() > 0.0);
    assert_eq!(store.import_base.lines, meta.stage_a_lines);
    assert!(
        store
            .import_more
            .as_ref()
            .expect("stage B")
            .sessions_per_second()
            > 0.0
    );

    // Both reads at both scales, each with the generated number of sessions.
    let scales = [
        meta.stage_a_sessions,
        meta.stage_a_sessions + meta.stage_b_sessions,
    ];
    assert_eq!(store.reads.len(), 4);
    for read in &store.reads {
        assert!(scales.contains(&read.scale));
        let expected = if read.what.starts_with("busy") {
            meta.busy_count
        } else {
            meta.probe_count
        };
        assert_eq!(read.elements, expected, "{read:?}");
        assert!(read.bytes > expected * 100, "{read:?}");
        assert!(read.cold_ms.is_finite() && read.cold_ms > 0.0, "{read:?}");
        assert!(read.warm_ms.is_finite() && read.warm_ms > 0.0, "{read:?}");
        assert!(read.ours.is_none() && read.nginx.is_none() && read.sql_ms.is_none());
    }

    // The scale measure, read alternately on a copy of stage A and on the
    // full database: both probes, every round's samples at each scale.
    assert_eq!(store.scale_checks.len(), 2, "{:?}", store.scale_checks);
    for check in &store.scale_checks {
        assert_eq!((check.low, check.high), (scales[0], scales[1]), "{check:?}");
        assert_eq!(
            check.samples,
            runner::SCALE_ROUNDS * config.cold_samples,
            "{check:?}"
        );
        assert!(check.low_ms > 0.0 && check.high_ms > 0.0, "{check:?}");
    }
    assert!(
        !config.work.join("bench-sqlite-stage-a.db").exists(),
        "the stage-A copy is removed after the scale check"
    );

    // The console's month page, signed in through the sign-in form, beside
    // the History JSON of the same month; the audit step needs wrk.
    let month = store.console.as_ref().expect("the console's month page");
    assert_eq!(month.elements, meta.busy_count, "{month:?}");
    assert_eq!(month.samples, config.cold_samples, "{month:?}");
    assert!(month.page_bytes > month.elements * 200, "{month:?}");
    assert!(month.page_ms > 0.0 && month.json_ms > 0.0, "{month:?}");
    assert!(store.audit_load.is_none());

    assert_eq!(store.ingest.accepted, meta.ingest_events);
    assert_eq!(store.ingest.sessions_visible, meta.ingest_company_sessions);
    assert!(store.ingest.seconds > 0.0);

    // Every Daily webhook applied, one event a request, and the webhook
    // company's sessions billable afterwards.
    assert_eq!(meta.webhook_events, u64::from(plan.webhook_sessions) * 8);
    assert_eq!(store.webhooks.events, meta.webhook_events);
    assert_eq!(store.webhooks.senders, 8);
    assert_eq!(
        store.webhooks.sessions_visible,
        meta.webhook_company_sessions
    );
    assert!(meta.webhook_company_sessions > 0 && store.webhooks.seconds > 0.0);

    // The ingest again, into a second set of sessions of the same shape,
    // with three endpoints (every type) per company delivering to the
    // receiver in the tool: every event accepted, every message delivered.
    let outbound = &store.outbound;
    assert_eq!(meta.hooked_events, meta.ingest_events);
    assert_eq!(meta.hooked_batches, meta.ingest_batches);
    assert_eq!(meta.hooked_companies.len(), plan.companies as usize);
    assert_eq!(outbound.events, meta.hooked_events);
    assert_eq!(
        outbound.endpoints,
        runner::ENDPOINTS_PER_COMPANY * meta.hooked_companies.len()
    );
    assert_eq!(outbound.sessions_visible, meta.hooked_company_sessions);
    assert!(meta.hooked_company_sessions > 0 && outbound.seconds > 0.0);
    assert!(
        outbound.deliveries
            >= runner::ENDPOINTS_PER_COMPANY as u64 * u64::from(plan.ingest_sessions),
        "at least a SESSION_STATUS to each endpoint for every session: {outbound:?}"
    );
    assert!(outbound.drained_seconds >= outbound.seconds, "{outbound:?}");

    assert_eq!(
        store.memory.elements,
        meta.largest_sessions
            + meta.ingest_company_sessions
            + meta.webhook_company_sessions
            + meta.hooked_company_sessions
    );
    assert!(store.memory.peak_kb >= store.memory.baseline_kb && store.memory.baseline_kb > 0);

    // The report: without the external tools only the outbound-webhook,
    // scale, console and memory ratios can be formed; the details hold
    // every figure.
    let ratios = report::ratios(&result);
    assert_eq!(ratios.len(), 5, "{ratios:?}");
    assert!(ratios.iter().all(|ratio| ratio.ratio.is_finite()));
    let table = report::ratio_table(&ratios);
    assert!(table.contains("peak RSS"), "{table}");
    assert!(table.contains("console's month page"), "{table}");
    assert!(table.contains("webhook endpoints subscribed"), "{table}");
    let details = report::details(&result, &plan, "wrk");
    assert!(
        details.contains("Ingest:")
            && details.contains("Webhooks:")
            && details.contains("deliveries/s")
            && details.contains("stage B")
            && details.contains("Console:"),
        "{details}"
    );
}

#[test]
fn wrk_reports_are_read() {
    let sample = "Running 10s test @ http://127.0.0.1:8080/history
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.01ms    3.20ms  40.12ms   80.00%
    Req/Sec     2.67k   200.00     3.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%   13.00ms
     90%   15.50ms
     99%    1.20s
  53210 requests in 10.00s, 1.02GB read
  Non-2xx or 3xx responses: 3
Requests/sec:   5321.00
Transfer/sec:    104.50MB
";
    let wrk = runner::parse_wrk(sample).expect("parsed");
    assert_eq!(wrk.requests_per_second, 5321.0);
    assert!((wrk.p50_ms - 0.85).abs() < 1e-9);
    assert_eq!(wrk.p90_ms, 15.5);
    assert_eq!(wrk.p99_ms, 1200.0);
    assert_eq!(wrk.requests, 53210);
    assert_eq!(wrk.bad_responses, 3);
}

#[test]
fn alternating_wrk_runs_are_summed_up_by_their_median_run() {
    let run = |rate: f64, p50_ms: f64, bad_responses: u64| runner::Wrk {
        requests_per_second: rate,
        p50_ms,
        bad_responses,
        ..runner::Wrk::default()
    };
    let rounds = runner::Rounds::new(vec![
        run(51_000.0, 1.0, 0),
        run(62_000.0, 3.0, 2),
        run(58_000.0, 2.0, 1),
    ]);
    assert_eq!(rounds.median.requests_per_second, 58_000.0);
    assert_eq!(rounds.median.p50_ms, 2.0, "the median run's latencies");
    assert_eq!(rounds.requests_per_second, [51_000.0, 58_000.0, 62_000.0]);
    assert_eq!(rounds.bad_responses, 3, "non-2xx answers of every run");
}
