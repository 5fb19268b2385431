//! The resolved description that `check-config` prints: every setting after the layers were
//! merged, then each rule with its targets resolved, and the targets no rule uses. Part of
//! [`crate::config`]; plain text in a stable order (the file's).

use std::fmt::{self, Write as _};

use super::{Archived, Config, Deletes, ObjectLock, TargetConfig};

impl Config {
    /// Human-readable resolved view for `check-config`: queue, topics, copy limits, then each
    /// rule with its source and its targets resolved. Plain text, stable order (file order).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) -> fmt::Result {
        let q = &self.queue;
        writeln!(out, "Queue")?;
        writeln!(out, "  url:                     {}", q.url)?;
        writeln!(out, "  max_messages:            {}", q.max_messages)?;
        writeln!(out, "  wait_time_secs:          {}", q.wait_time_secs)?;
        writeln!(
            out,
            "  visibility_timeout_secs: {}",
            q.visibility_timeout_secs
        )?;
        writeln!(out, "  concurrency:             {}", q.concurrency)?;
        writeln!(
            out,
            "  shutdown_timeout_secs:   {}",
            q.shutdown_timeout_secs
        )?;
        writeln!(out, "Topics")?;
        writeln!(
            out,
            "  completion:              {}",
            self.completion.topic_arn
        )?;
        writeln!(out, "  alerts:                  {}", self.alerts.topic_arn)?;
        writeln!(
            out,
            "  alert window_secs:       {}",
            self.alerts.window_secs
        )?;
        writeln!(out, "AWS")?;
        writeln!(
            out,
            "  region:                  {}",
            self.aws.region.as_deref().unwrap_or("(SDK default chain)")
        )?;
        writeln!(
            out,
            "  endpoint_url:            {}",
            self.aws
                .endpoint_url
                .as_deref()
                .unwrap_or("(AWS endpoints)")
        )?;
        writeln!(
            out,
            "  s3_endpoint_url:         {}",
            self.aws
                .s3_endpoint_url
                .as_deref()
                .unwrap_or("(as endpoint_url)")
        )?;
        let c = &self.copy;
        writeln!(out, "Copy")?;
        writeln!(out, "  multipart_threshold:     {}", c.multipart_threshold)?;
        writeln!(out, "  part_size:               {}", c.part_size)?;
        writeln!(out, "  max_inflight_bytes:      {}", c.max_inflight_bytes)?;
        writeln!(out, "Operations")?;
        writeln!(out, "  server.listen:           {}", self.server.listen)?;
        writeln!(out, "  log.format:              {:?}", self.log.format)?;
        self.write_timeouts(out)?;

        writeln!(out)?;
        writeln!(out, "Rules ({})", self.rules.len())?;
        for rule in &self.rules {
            writeln!(out, "  {}", rule.name)?;
            writeln!(out, "    source bucket: {}", rule.source_bucket)?;
            writeln!(
                out,
                "    prefix:        {}",
                quoted_or(rule.prefix.as_deref(), "(any)")
            )?;
            writeln!(
                out,
                "    suffix:        {}",
                quoted_or(rule.suffix.as_deref(), "(any)")
            )?;
            if let Some(marker) = &rule.complete_on {
                writeln!(
                    out,
                    "    partition:     closed by {marker:?}; alert after {} s",
                    rule.complete_deadline_secs
                )?;
            }
            if rule.table_format == super::TableFormat::Delta {
                writeln!(
                    out,
                    "    tables:        Delta: a commit waits for its files and the commit before it in every target (deadline {}s)",
                    rule.complete_deadline_secs
                )?;
            }
            match rule.deletes {
                Deletes::Ignore => writeln!(out, "    deletes:       ignored (replicas stay)")?,
                Deletes::Replicate => writeln!(
                    out,
                    "    deletes:       replicated (at most {} per minute per process, then held)",
                    rule.max_deletes_per_minute
                )?,
            }
            if let Some(secs) = rule.lag_alert_secs {
                writeln!(out, "    late after:    {secs} s (replication_late alert)")?;
            }
            match rule.archived {
                Archived::Alert => {
                    writeln!(out, "    archived:      alert (source_archived), not copied")?
                }
                Archived::Restore => writeln!(
                    out,
                    "    archived:      restored ({} tier, {} day(s)), copied on ObjectRestore:Completed",
                    rule.restore_tier.as_str(),
                    rule.restore_days
                )?,
            }
            writeln!(out, "    targets ({}):", rule.targets.len())?;
            for name in &rule.targets {
                match self.target(name) {
                    Some(t) => write_target(out, t, "      ")?,
                    None => writeln!(out, "      {name}  (NOT DEFINED)")?,
                }
            }
        }

        let unused: Vec<&TargetConfig> = self
            .targets
            .iter()
            .filter(|t| !self.rules.iter().any(|r| r.targets.contains(&t.name)))
            .collect();
        if !unused.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "Targets used by no rule ({}; allowed, they receive nothing)",
                unused.len()
            )?;
            for t in unused {
                write_target(out, t, "  ")?;
            }
        }
        Ok(())
    }
}

fn write_target(out: &mut String, t: &TargetConfig, indent: &str) -> fmt::Result {
    let prefix = t.key_prefix.as_deref().unwrap_or("");
    writeln!(
        out,
        "{indent}{} -> s3://{}/{prefix}<source key>",
        t.name, t.bucket
    )?;
    writeln!(out, "{indent}  region:        {}", t.region)?;
    if let Some(endpoint) = &t.endpoint_url {
        writeln!(
            out,
            "{indent}  endpoint:      {endpoint} ({} addressing)",
            if t.force_path_style.unwrap_or(true) {
                "path-style"
            } else {
                "virtual-hosted"
            }
        )?;
    }
    // Names only: the values of credentials are never read here.
    if let Some(profile) = &t.profile {
        writeln!(out, "{indent}  credentials:   profile {profile:?}")?;
    }
    if let (Some(id), Some(secret)) = (&t.access_key_id_env, &t.secret_access_key_env) {
        writeln!(
            out,
            "{indent}  credentials:   from the environment variables {id} and {secret}"
        )?;
    }
    match (&t.role_arn, &t.external_id) {
        (Some(role), Some(_)) => {
            writeln!(out, "{indent}  role:          {role} (with external ID)")?
        }
        (Some(role), None) => writeln!(out, "{indent}  role:          {role}")?,
        (None, _) if t.own_credentials() => {}
        (None, _) => writeln!(
            out,
            "{indent}  role:          (none: the daemon's own credentials)"
        )?,
    }
    writeln!(
        out,
        "{indent}  key prefix:    {}",
        quoted_or(t.key_prefix.as_deref(), "(none: same key)")
    )?;
    writeln!(
        out,
        "{indent}  storage class: {}",
        t.storage_class.as_deref().unwrap_or("(bucket default)")
    )?;
    writeln!(
        out,
        "{indent}  SSE-KMS key:   {}",
        t.sse_kms_key_id
            .as_deref()
            .unwrap_or("(bucket default encryption)")
    )?;
    if t.streams_only() {
        writeln!(
            out,
            "{indent}  copy mode:     stream (always: S3 cannot copy into another store or across credentials; checksummed while streaming)"
        )?;
    } else {
        writeln!(out, "{indent}  copy mode:     {}", t.copy_mode)?;
    }
    let declared: Vec<String> = t
        .capabilities
        .declared()
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name} = {v}")))
        .collect();
    if !declared.is_empty() || t.endpoint_url.is_some() {
        let rest = if t.endpoint_url.is_some() {
            "the rest detected before the first write"
        } else {
            "the rest as on S3"
        };
        let declared = if declared.is_empty() {
            "none declared".to_owned()
        } else {
            declared.join(", ")
        };
        writeln!(out, "{indent}  capabilities:  {declared}; {rest}")?;
        writeln!(out, "{indent}  probe prefix:  {:?}", t.probe_prefix())?;
    }
    writeln!(
        out,
        "{indent}  writes:        {}",
        if t.conditional_writes {
            "conditional (If-Match / If-None-Match on what was read)"
        } else {
            "unconditional (conditional_writes = false: concurrent writers are not detected)"
        }
    )?;
    writeln!(
        out,
        "{indent}  first delivery: {}",
        if t.conditional_writes
            && t.write_first
            && t.endpoint_url.is_none()
            && t.capabilities.conditional_writes != Some(false)
        {
            "written at once (If-None-Match: *), read only when the key is taken"
        } else {
            "read first, then written"
        }
    )?;
    if t.object_lock == ObjectLock::Copy {
        writeln!(
            out,
            "{indent}  object lock:   copied (retention mode and date, legal hold)"
        )?;
    }
    Ok(())
}

fn quoted_or(value: Option<&str>, none: &str) -> String {
    value.map_or_else(|| none.to_owned(), |v| format!("{v:?}"))
}

impl Config {
    fn write_timeouts(&self, out: &mut String) -> fmt::Result {
        let t = &self.timeouts;
        writeln!(out, "Timeouts")?;
        writeln!(out, "  connect_secs:            {}", t.connect_secs)?;
        writeln!(
            out,
            "  request_secs:            {} (per attempt: HEAD, tagging, listing, SQS, SNS)",
            t.request_secs
        )?;
        writeln!(
            out,
            "  transfer_secs:           {} (per attempt: copy, upload, download, complete)",
            t.transfer_secs
        )?;
        writeln!(
            out,
            "  receive:                 {} (queue.wait_time_secs + receive_margin_secs {})",
            self.queue.wait_time_secs.max(0) as u64 + t.receive_margin_secs,
            t.receive_margin_secs
        )?;
        writeln!(
            out,
            "  message_deadline_secs:   {}",
            t.message_deadline_secs
        )
    }
}
