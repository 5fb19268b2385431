# The event queue, its dead-letter queue, who may send to it, and the source buckets'
# notifications. Encryption uses the module's key (kms.tf): S3 may send to a KMS-encrypted queue
# only when the key policy lets s3.amazonaws.com use the key, which the AWS-managed aws/sqs key
# does not.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  source_bucket_arns = [for b in var.source_buckets : "arn:${local.partition}:s3:::${b}"]
  completion_topic   = var.completion_topic_fifo ? "${var.name}-completed.fifo" : "${var.name}-completed"
  alerts_topic       = "${var.name}-alerts"

  # ARNs the key, queue and topic policies are bound to, formed from the names the resources are
  # given: the resources themselves are encrypted with the key, so the key policy cannot refer to
  # their attributes (that would be a dependency cycle).
  arn_prefix           = "arn:${local.partition}:%s:${local.region}:${local.account_id}"
  events_queue_arn     = "${format(local.arn_prefix, "sqs")}:${var.name}-events"
  dlq_arn              = "${format(local.arn_prefix, "sqs")}:${var.name}-events-dlq"
  completion_topic_arn = "${format(local.arn_prefix, "sns")}:${local.completion_topic}"
  alerts_topic_arn     = "${format(local.arn_prefix, "sns")}:${local.alerts_topic}"
  log_group_arn        = "${format(local.arn_prefix, "logs")}:log-group:/ecs/${var.name}"
  # The alarms that publish to the alerts topic (scaling.tf; reconcile.tf with reconcile_schedule).
  alert_alarm_names = merge(
    {
      dlq_not_empty = "${var.name}-dlq-not-empty"
      lag_objective = "${var.name}-lag-objective"
    },
    var.reconcile_schedule != null ? { reconcile_differences = "${var.name}-reconcile-differences" } : {},
  )
  alert_alarm_arns = [for n in values(local.alert_alarm_names) : "${format(local.arn_prefix, "cloudwatch")}:alarm:${n}"]
  # The EventBridge rule of source_notifications = "eventbridge", on the default event bus.
  source_rule_name = "${var.name}-source-objects"
  source_rule_arn  = "${format(local.arn_prefix, "events")}:rule/${local.source_rule_name}"

  # The events the daemon acts on, as S3 notification event types and as the EventBridge
  # detail-types of the same events. New objects always; deletions only when a rule replicates
  # them (replicate_deletes), completed restores only when a rule restores archived sources
  # (restore_archived_sources). Any other event would only be received and dropped: a request
  # (and a message on the queue) per event for nothing. "s3:ObjectRemoved:*" covers both
  # s3:ObjectRemoved:Delete and s3:ObjectRemoved:DeleteMarkerCreated; EventBridge sends both as
  # "Object Deleted".
  source_notification_events = concat(
    ["s3:ObjectCreated:*"],
    var.replicate_deletes ? ["s3:ObjectRemoved:*"] : [],
    var.restore_archived_sources ? ["s3:ObjectRestore:Completed"] : [],
  )
  source_eventbridge_detail_types = concat(
    ["Object Created"],
    var.replicate_deletes ? ["Object Deleted"] : [],
    var.restore_archived_sources ? ["Object Restore Completed"] : [],
  )
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-events-dlq"
  message_retention_seconds         = var.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.events.arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "events" {
  name                              = "${var.name}-events"
  visibility_timeout_seconds        = var.queue_visibility_timeout_seconds
  message_retention_seconds         = 345600 # 4 days: room for a long outage before the DLQ matters
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.events.arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Only the event queue may dead-letter into the DLQ; `start-message-move-task` (the console's
# "Start DLQ redrive") moves messages back, see the runbook.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

# Who may send: S3 for the source buckets (their notification configurations, whoever manages
# them), and with source_notifications = "eventbridge" the module's rule and no other.
data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "SourceBucketNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [local.events_queue_arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.source_bucket_arns
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  dynamic "statement" {
    for_each = var.source_notifications == "eventbridge" ? [1] : []
    content {
      sid       = "SourceObjectsRule"
      actions   = ["sqs:SendMessage"]
      resources = [local.events_queue_arn]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [local.source_rule_arn]
      }
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [local.events_queue_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.events_queue.json
}

# --- How the source buckets' new objects reach the queue (variable source_notifications) ------

# "s3_notification": S3 notifications written by this module. A bucket has exactly one
# notification configuration and PutBucketNotificationConfiguration replaces all of it: whatever
# else the bucket notified (Lambda triggers, other queues, EventBridge delivery) is removed, and
# `terraform plan` does not show it, since that configuration is not in this state. Destroying
# the resource empties the bucket's configuration.
resource "aws_s3_bucket_notification" "sources" {
  for_each = var.source_notifications == "s3_notification" ? toset(var.source_buckets) : toset([])
  bucket   = each.value

  queue {
    queue_arn = aws_sqs_queue.events.arn
    events    = local.source_notification_events
  }

  # S3 checks that it may send to the queue when the notification is written.
  depends_on = [aws_sqs_queue_policy.events]
}

# "eventbridge": a rule on the default event bus, matching "Object Created" of the source buckets
# (and "Object Deleted", "Object Restore Completed" when replicate_deletes, restore_archived_sources).
# The buckets' notification configurations are not touched; each bucket must have its delivery to
# EventBridge turned on (one flag, kept beside any other destinations; see the module README).
# The daemon decodes the EventBridge event as it does an S3 notification.
resource "aws_cloudwatch_event_rule" "sources" {
  count       = var.source_notifications == "eventbridge" ? 1 : 0
  name        = local.source_rule_name
  description = "${join(", ", local.source_eventbridge_detail_types)} in the s3-replicator source buckets, to ${var.name}-events."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = local.source_eventbridge_detail_types
    detail        = { bucket = { name = var.source_buckets } }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "sources" {
  count     = var.source_notifications == "eventbridge" ? 1 : 0
  rule      = aws_cloudwatch_event_rule.sources[0].name
  target_id = "events-queue"
  arn       = aws_sqs_queue.events.arn
  # Events EventBridge cannot deliver after its retries go to the dead-letter queue, where the
  # dlq-not-empty alarm reports them; a redrive moves them to the event queue like any other.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

data "aws_iam_policy_document" "dlq" {
  count = var.source_notifications == "eventbridge" ? 1 : 0
  statement {
    sid       = "UndeliverableSourceObjectEvents"
    actions   = ["sqs:SendMessage"]
    resources = [local.dlq_arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.source_rule_arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [local.dlq_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  count     = var.source_notifications == "eventbridge" ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq[0].json
}
