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
        let _ = writeln!(w, "\ndaemon p50 / floor = {:.2}; floor calls (medians): {}; SNS → SQS delivery {:.0} ms (not in the floor)", l.ratio_p50_to_floor,
            l.floor.calls.iter().map(|c| format!("{} {:.1} ms", c.call, c.median_ms)).collect::<Vec<_>>().join(", "), l.floor.delivery_ms);
    }
    if let Some(t) = &r.throughput {
        let _ = writeln!(
            w,
            "\nThroughput, {} objects of {} bytes to {} targets:\n",
            t.objects, t.object_bytes, t.targets
        );
        let _ = writeln!(
            w,
            "| tool | objects/s | ratio to raw | s | emulators busy (cores) | how |\n|---|---|---|---|---|---|"
        );
        let _ = writeln!(w, "| emulator raw capacity: CopyObject only | {:.0} | 1.00 | | {} | {} in flight, {:.0} copies/s |", t.raw.objects_per_s, loads(&t.raw.emulator_load), t.raw.concurrency, t.raw.copies_per_s);
        if t.queue_topic_per_s > 0.0 {
            let _ = writeln!(w, "| emulator raw capacity: queue + topic only | {:.0} | {:.2} | | {} | receive 10, publish each, delete the batch; 7 pollers |", t.queue_topic_per_s, t.queue_topic_per_s / t.raw.objects_per_s, loads(&t.queue_topic_load));
        }
        for row in &t.rows {
            let _ = writeln!(
                w,
                "| {} | {:.0} | {:.2} | {:.1} | {} | {} |",
                row.tool,
                row.objects_per_s,
                row.ratio_to_raw,
                row.seconds,
                loads(&row.emulator_load),
                row.how
            );
        }
        let _ = writeln!(
            w,
            "\nemulator ceilings for the daemon's queue and topic work: {:.0} SNS Publish/s \
             (it publishes once per object), {:.0} SQS messages received and deleted/s \
             (batches of 10)",
            t.sns_publish_per_s, t.sqs_receive_delete_per_s
        );
    }
    if !r.scale.is_empty() {
        let _ = writeln!(
            w,
            "\n| daemons | objects/s | s | daemon CPU s |\n|---|---|---|---|"
        );
        for s in &r.scale {
            let _ = writeln!(
                w,
                "| {} | {:.0} | {:.1} | {:.1} |",
                s.daemons, s.objects_per_s, s.seconds, s.daemon_cpu_seconds
            );
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
