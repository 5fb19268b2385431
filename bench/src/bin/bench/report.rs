//! Reading the large-object rows and printing the results as the README's tables.

use std::fmt::Write as _;
use std::path::Path;

use super::results::*;

/// The rows `scripts/bench-large.sh` wrote, one JSON object per line.
pub fn read_large_rows(path: &Path) -> Result<Vec<LargeObjectRow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}: {l}", path.display())))
        .collect()
}

/// `s3s-fs 0.31 cores, LocalStack 0.98 cores`, or `–` when not measured.
pub fn loads(loads: &[EmulatorLoad]) -> String {
    if loads.is_empty() {
        return "–".into();
    }
    loads
        .iter()
        .map(|l| format!("{} {:.2}", l.emulator, l.cores))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The goals a run is held to: what each figure should be, beside what it was.
struct Goal {
    what: String,
    shown: String,
    target: &'static str,
    met: Option<bool>,
}

fn goal(
    what: impl Into<String>,
    figure: Option<f64>,
    decimals: usize,
    target: &'static str,
    met: impl Fn(f64) -> bool,
) -> Goal {
    let figure = figure.filter(|f| f.is_finite() && *f > 0.0);
    Goal {
        what: what.into(),
        shown: figure.map_or("–".into(), |f| format!("{f:.decimals$}")),
        met: figure.map(&met),
        target,
    }
}

/// `s3`, `sns`, `sqs` requests per object (to all targets) of a run.
pub fn by_service(q: &Requests) -> Vec<ServiceRate> {
    if !q.per_object_by_service.is_empty() {
        return q.per_object_by_service.clone();
    }
    // Files written before the field: the per-target rates times the targets.
    let mut out: Vec<ServiceRate> = Vec::new();
    for rate in &q.per_object_per_target {
        let service = rate
            .request
            .split_once(':')
            .map_or(rate.request.as_str(), |(s, _)| s);
        let per_object = rate.per_object_per_target * q.targets as f64;
        match out.iter_mut().find(|r| r.service == service) {
            Some(r) => r.per_object += per_object,
            None => out.push(ServiceRate {
                service: service.to_owned(),
                per_object,
            }),
        }
    }
    out
}

fn service_rate(rates: &[ServiceRate], service: &str) -> Option<f64> {
    rates
        .iter()
        .find(|r| r.service == service)
        .map(|r| r.per_object)
}

/// The ratio of the 2-daemon row to the 1-daemon row.
pub fn two_to_one(rows: &[ScaleRow]) -> Option<f64> {
    let of = |n: usize| {
        rows.iter()
            .find(|r| r.daemons == n)
            .map(|r| r.objects_per_s)
    };
    Some(of(2)? / of(1)?)
}

/// The ceiling for the daemon's request mix: queue + topic with batched completions.
fn ceiling(t: &Throughput) -> Option<f64> {
    (t.queue_topic_batch_per_s > 0.0).then_some(t.queue_topic_batch_per_s)
}

fn goals(r: &Results) -> Vec<Goal> {
    let rates = r.requests.as_ref().map(by_service).unwrap_or_default();
    let one_daemon = r.throughput.as_ref().and_then(|t| {
        Some(
            t.rows
                .iter()
                .find(|row| row.tool.contains("(1 daemon)"))?
                .objects_per_s
                / ceiling(t)?,
        )
    });
    let one_daemon_full = r.throughput.as_ref().and_then(|t| {
        Some(
            t.rows
                .iter()
                .find(|row| row.tool.contains("(1 daemon)"))?
                .objects_per_s
                / t.full_mix.as_ref()?.objects_per_s,
        )
    });
    let startup = r
        .startup
        .iter()
        .map(|s| s.seconds)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let capped = r
        .scale_capped
        .first()
        .map_or("small".to_owned(), |s| s.concurrency.to_string());
    vec![
        goal(
            "S3 requests per object, two targets, first delivery, single-part",
            service_rate(&rates, "s3"),
            2,
            "≤ 3",
            |f| f <= 3.005,
        ),
        goal(
            "SNS requests per object",
            service_rate(&rates, "sns"),
            3,
            "≤ 0.15",
            |f| f <= 0.15,
        ),
        goal(
            "SQS requests per object",
            service_rate(&rates, "sqs"),
            3,
            "≤ 0.25",
            |f| f <= 0.25,
        ),
        goal(
            "throughput, 1 daemon / emulators' ceiling for its request mix (queue + topic, PublishBatch)",
            one_daemon,
            2,
            "≥ 0.9",
            |f| f >= 0.9,
        ),
        goal(
            "throughput, 1 daemon / a bare client making its whole request mix (S3 too)",
            one_daemon_full,
            2,
            "≥ 0.9",
            |f| f >= 0.9,
        ),
        goal(
            "S3, SQS and SNS on one LocalStack: daemon / rclone",
            r.one_emulator.as_ref().map(|o| o.daemon_to_rclone),
            2,
            "> 1",
            |f| f > 1.0,
        ),
        goal(
            "latency p99 / floor",
            r.latency.as_ref().map(|l| l.p99_ms / l.floor.median_ms),
            2,
            "≤ 1.25",
            |f| f <= 1.25,
        ),
        goal(
            "2 daemons / 1, queue.concurrency 64 (default)",
            two_to_one(&r.scale),
            2,
            "≥ 1.8",
            |f| f >= 1.8,
        ),
        goal(
            format!("2 daemons / 1, queue.concurrency {capped} per daemon"),
            two_to_one(&r.scale_capped),
            2,
            "≥ 1.8",
            |f| f >= 1.8,
        ),
        goal(
            "start-up, slowest daemon of the run (s)",
            startup,
            3,
            "< 1",
            |f| f < 1.0,
        ),
    ]
}

/// The results as the README's Markdown tables.
pub fn tables(r: &Results) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\nrun {} at {}, {} cores, load average {:.1} → {:.1}",
        r.run.revision,
        r.run.started_at,
        r.run.cores,
        r.run.load_average_start,
        r.run.load_average_end
    );
    for e in &r.run.emulators {
        let _ = writeln!(w, "  {}: {}", e.service, e.name);
    }
    let _ = writeln!(
        w,
        "\nGoals:\n\n| goal | this run | target | met |\n|---|---|---|---|"
    );
    for g in goals(r) {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(w, "| {} | {} | {} | {met} |", g.what, g.shown, g.target);
    }
    if let Some(l) = &r.latency {
        let _ = writeln!(w, "\nLatency, {} objects of {} bytes at {}/s to {} targets (PutObject returned → completion event received):\n", l.objects, l.object_bytes, l.rate_per_s, l.targets);
        let _ = writeln!(w, "| | p50 | p95 | p99 | max |\n|---|---|---|---|---|");
        let _ = writeln!(
            w,
            "| s3-replicator | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
        let _ = writeln!(
            w,
            "| floor (median of {}) | {:.0} ms | | | |",
            l.floor.samples, l.floor.median_ms
        );
        let _ = writeln!(w, "\ndaemon p50 / floor = {:.2}, p99 / floor = {:.2}; floor calls (medians): {}; not in the floor: SNS → SQS delivery {:.1} ms, the event's SendMessage {}", l.ratio_p50_to_floor, l.p99_ms / l.floor.median_ms,
            l.floor.calls.iter().map(|c| format!("{} {:.1} ms", c.call, c.median_ms)).collect::<Vec<_>>().join(", "), l.floor.delivery_ms,
            if l.floor.event_send_ms > 0.0 { format!("{:.1} ms", l.floor.event_send_ms) } else { "–".into() });
    }
    if let Some(t) = &r.throughput {
        let _ = writeln!(
            w,
            "\nThroughput, {} objects of {} bytes to {} targets:\n",
            t.objects, t.object_bytes, t.targets
        );
        let machine = |cores: f64| {
            if cores > 0.0 {
                format!("{cores:.2}")
            } else {
                "–".into()
            }
        };
        let _ = writeln!(
            w,
            "| tool | objects/s | ratio to raw | s | emulators busy (cores) | machine busy (cores of {}) | how |\n|---|---|---|---|---|---|---|",
            r.run.cores
        );
        let _ = writeln!(w, "| emulator raw capacity: CopyObject only | {:.0} | 1.00 | | {} | {} | {} in flight, {:.0} copies/s |", t.raw.objects_per_s, loads(&t.raw.emulator_load), machine(t.raw_machine_cores), t.raw.concurrency, t.raw.copies_per_s);
        if t.queue_topic_per_s > 0.0 {
            let _ = writeln!(w, "| emulator raw capacity: queue + topic only, publish each | {:.0} | {:.2} | | {} | {} | receive 10, publish each, delete the batch; 7 pollers |", t.queue_topic_per_s, t.queue_topic_per_s / t.raw.objects_per_s, loads(&t.queue_topic_load), machine(t.queue_topic_machine_cores));
        }
        if t.queue_topic_batch_per_s > 0.0 {
            let _ = writeln!(w, "| emulator raw capacity: queue + topic only, PublishBatch (the daemon's mix) | {:.0} | {:.2} | | {} | {} | receive 10, one PublishBatch of the 10, delete the batch; 7 pollers |", t.queue_topic_batch_per_s, t.queue_topic_batch_per_s / t.raw.objects_per_s, loads(&t.queue_topic_batch_load), machine(t.queue_topic_batch_machine_cores));
        }
        for row in t.full_mix.iter().chain(&t.rows) {
            let _ = writeln!(
                w,
                "| {} | {:.0} | {:.2} | {:.1} | {} | {} | {} |",
                row.tool,
                row.objects_per_s,
                row.ratio_to_raw,
                row.seconds,
                loads(&row.emulator_load),
                machine(row.machine_cores),
                row.how
            );
        }
        if let Some(c) = ceiling(t) {
            let ratios = t
                .rows
                .iter()
                .filter(|row| row.tool.starts_with("s3-replicator"))
                .map(|row| format!("{} {:.2}", row.tool, row.objects_per_s / c))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(w, "\ndaemon / the emulators' ceiling for its request mix ({c:.0} objects/s, queue + topic with PublishBatch): {ratios}");
        }
        if let Some(full) = &t.full_mix {
            let ratios = t
                .rows
                .iter()
                .filter(|row| row.tool.starts_with("s3-replicator"))
                .map(|row| format!("{} {:.2}", row.tool, row.objects_per_s / full.objects_per_s))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(w, "\ndaemon / a bare client making the daemon's whole request mix, S3 too ({:.0} objects/s): {ratios}", full.objects_per_s);
        }
        let _ = writeln!(
            w,
            "\nLocalStack's ceilings for parts of that work: {:.0} SNS Publish/s (one message \
             per call), {:.0} SQS messages received and deleted/s (batches of 10)",
            t.sns_publish_per_s, t.sqs_receive_delete_per_s
        );
    }
    if let Some(t) = &r.throughput {
        answer_times(w, r, t);
    }
    let default_objects = r.throughput.as_ref().map_or(0, |t| t.objects);
    for (rows, title) in [
        (&r.scale, "Scale, default configuration"),
        (
            &r.scale_capped,
            "Scale, each daemon held to a small queue.concurrency",
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            w,
            "\n{title}:\n\n| daemons | queue.concurrency | objects | objects/s | × 1 daemon | s | daemon CPU s | CPU ms per object | emulators busy (cores) | machine busy (cores of {}) |\n|---|---|---|---|---|---|---|---|---|---|",
            r.run.cores
        );
        let one = rows
            .iter()
            .find(|s| s.daemons == 1)
            .map(|s| s.objects_per_s);
        for s in rows {
            let objects = if s.objects > 0 {
                s.objects
            } else {
                default_objects
            };
            let concurrency = if s.concurrency > 0 { s.concurrency } else { 64 };
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.0} | {} | {:.1} | {:.1} | {} | {} | {} |",
                s.daemons,
                concurrency,
                objects,
                s.objects_per_s,
                one.map_or("–".into(), |o| format!("{:.2}", s.objects_per_s / o)),
                s.seconds,
                s.daemon_cpu_seconds,
                if objects > 0 {
                    format!("{:.2}", s.daemon_cpu_seconds * 1000.0 / objects as f64)
                } else {
                    "–".into()
                },
                loads(&s.emulator_load),
                if s.machine_cores > 0.0 {
                    format!("{:.2}", s.machine_cores)
                } else {
                    "–".into()
                },
            );
        }
    }
    if !r.startup.is_empty() {
        let _ = writeln!(w, "\nStart-up (s3r_startup_seconds: process start → first ReceiveMessage sent):\n\n| daemon | s |\n|---|---|");
        for s in &r.startup {
            let _ = writeln!(w, "| {} | {:.3} |", s.daemon, s.seconds);
        }
    }
    if let Some(q) = &r.requests {
        let _ = writeln!(
            w,
            "\nRequests per object per target ({} objects, {} targets):\n",
            q.objects, q.targets
        );
        let _ = writeln!(w, "| request | s3-replicator | CRR |\n|---|---|---|");
        for rate in &q.per_object_per_target {
            let _ = writeln!(
                w,
                "| {} | {:.2} | |",
                rate.request, rate.per_object_per_target
            );
        }
        for rate in &q.crr {
            let _ = writeln!(
                w,
                "| {} | | {:.2} |",
                rate.request, rate.per_object_per_target
            );
        }
        let _ = writeln!(
            w,
            "| **total** | **{:.2}** | **{:.2}** |",
            q.total_per_object_per_target, q.crr_total_per_object_per_target
        );
        let _ = writeln!(
            w,
            "\nRequests per object to all {} targets, by service:\n\n| service | s3-replicator | goal |\n|---|---|---|",
            q.targets
        );
        for rate in by_service(q) {
            let target = match rate.service.as_str() {
                "s3" => "≤ 3",
                "sns" => "≤ 0.15",
                "sqs" => "≤ 0.25",
                _ => "",
            };
            let _ = writeln!(
                w,
                "| {} | {:.3} | {target} |",
                rate.service, rate.per_object
            );
        }
    }
    if let Some(o) = &r.one_emulator {
        let _ = writeln!(
            w,
            "\nS3, SQS and SNS on one emulator ({}), {} objects of {} bytes to {} targets:\n\n| tool | objects/s | s | emulators busy (cores) | machine busy (cores of {}) | how |\n|---|---|---|---|---|---|",
            o.emulator, o.objects, o.object_bytes, o.targets, r.run.cores
        );
        for row in &o.rows {
            let _ = writeln!(
                w,
                "| {} | {:.0} | {:.1} | {} | {:.2} | {} |",
                row.tool,
                row.objects_per_s,
                row.seconds,
                loads(&row.emulator_load),
                row.machine_cores,
                row.how
            );
        }
        let _ = writeln!(
            w,
            "\ndaemon / rclone = {:.2}; the daemon's requests per object: {}",
            o.daemon_to_rclone,
            o.daemon_requests_per_object
                .iter()
                .map(|r| format!("{} {:.3}", r.service, r.per_object))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for row in o
            .rows
            .iter()
            .filter(|row| !row.localstack_per_object.is_empty())
        {
            let _ = writeln!(
                w,
                "\nLocalStack's requests per object during {} ({:.2} in all; the harness's events, subscriber and pulse included): {}",
                row.tool,
                row.localstack_per_object.iter().map(|r| r.per_object).sum::<f64>(),
                per_operation(&row.localstack_per_object)
            );
        }
        let answers: Vec<&ThroughputRow> =
            o.rows.iter().filter(|row| row.answers.is_some()).collect();
        if !answers.is_empty() {
            let _ = writeln!(w, "\n| during | LocalStack requests/s | GetQueueAttributes p50 / p90 ms | HeadObject p50 / p90 ms |\n|---|---|---|---|");
            for row in answers {
                answer_row(w, &row.tool, row.localstack_per_s, row.answers);
            }
        }
    }
    if !r.large_objects.is_empty() {
        let _ = writeln!(
            w,
            "\n| large object copy | MiB | s | MiB/s | peak RSS MiB |\n|---|---|---|---|---|"
        );
        for l in &r.large_objects {
            let _ = writeln!(
                w,
                "| {} | {:.0} | {:.1} | {:.1} | {:.0} |",
                l.tool, l.mib, l.seconds, l.mib_per_s, l.peak_rss_mib
            );
        }
    }
    out
}

/// `sqs.ReceiveMessage 0.16, s3.CopyObject 2.00, …`, the larger first.
fn per_operation(rates: &[OperationRate]) -> String {
    let mut rates = rates.to_vec();
    rates.sort_by(|a, b| b.per_object.total_cmp(&a.per_object));
    rates
        .iter()
        .filter(|r| r.per_object >= 0.0005)
        .map(|r| format!("{} {:.3}", r.operation, r.per_object))
        .collect::<Vec<_>>()
        .join(", ")
}

fn answer_row(w: &mut String, during: &str, per_s: f64, answers: Option<AnswerTimes>) {
    let Some(a) = answers else {
        return;
    };
    let _ = writeln!(
        w,
        "| {during} | {} | {:.1} / {:.1} | {:.1} / {:.1} |",
        if per_s > 0.0 {
            format!("{per_s:.0}")
        } else {
            "–".into()
        },
        a.localstack_p50_ms,
        a.localstack_p90_ms,
        a.s3_p50_ms,
        a.s3_p90_ms
    );
}

/// How long each emulator took to answer a small request under each load: a request waiting
/// in an emulator that is the bound, even when its CPU figure is below a core.
fn answer_times(w: &mut String, r: &Results, t: &Throughput) {
    if t.idle_answers.is_none() && t.rows.iter().all(|row| row.answers.is_none()) {
        return;
    }
    let s3 = r.run.emulators.first().map_or("S3", |e| e.name.as_str());
    let _ = writeln!(
        w,
        "\nThe emulators' answer times (a GetQueueAttributes to LocalStack and a HeadObject to {s3} every 100 ms) and LocalStack's requests/s (its request log), during each part:\n\n| during | LocalStack requests/s | GetQueueAttributes p50 / p90 ms | HeadObject p50 / p90 ms |\n|---|---|---|---|"
    );
    answer_row(w, "idle", 0.0, t.idle_answers);
    answer_row(
        w,
        "queue + topic ceiling, PublishBatch",
        t.queue_topic_batch_localstack_per_s,
        t.queue_topic_batch_answers,
    );
    for row in t.full_mix.iter().chain(&t.rows) {
        answer_row(w, &row.tool, row.localstack_per_s, row.answers);
    }
    for row in t.rows.iter().filter(|row| {
        row.tool.starts_with("s3-replicator") && !row.localstack_per_object.is_empty()
    }) {
        let _ = writeln!(
            w,
            "\nLocalStack's requests per object during {} (the harness's subscriber and pulse included): {}",
            row.tool,
            per_operation(&row.localstack_per_object)
        );
    }
}
