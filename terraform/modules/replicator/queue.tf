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

data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "SourceBucketNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
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
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.events.arn]
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

resource "aws_s3_bucket_notification" "sources" {
  for_each = var.manage_bucket_notifications ? toset(var.source_buckets) : toset([])
  bucket   = each.value

  queue {
    queue_arn = aws_sqs_queue.events.arn
    events    = ["s3:ObjectCreated:*"]
  }

  # S3 checks that it may send to the queue when the notification is written.
  depends_on = [aws_sqs_queue_policy.events]
}
