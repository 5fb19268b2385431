# One customer-managed key for the queues, the topics and the log group. The AWS-managed keys
# (aws/sqs, aws/sns) cannot be used here: their key policies cannot be changed, and S3 (sending
# notifications) or EventBridge, CloudWatch (alarm actions) and CloudWatch Logs all need grants
# on the key.

data "aws_iam_policy_document" "events_key" {
  # A key policy is the key's own resource policy: "*" as its resource means this key and no other,
  # and kms:* for the account root is the administration statement AWS requires so that IAM
  # policies in the account can grant use of the key at all.
  #checkov:skip=CKV_AWS_109:"*" in a key policy is the key itself; the account root must administer it.
  #checkov:skip=CKV_AWS_111:"*" in a key policy is the key itself; writes are granted to named services only.
  #checkov:skip=CKV_AWS_356:"*" in a key policy is the key itself, not every resource.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  # Every AWS service below may use the key only on behalf of this module's own resources
  # (confused-deputy protection), with the condition keys each service sends:
  #   S3 → queue          aws:SourceArn = the source bucket, aws:SourceAccount = its owner
  #                       (Amazon SQS Developer Guide, "least privilege policies" for encrypted
  #                       queues with S3 as event source)
  #   CloudWatch → topic  aws:SourceArn = the alarm; the encryption context SNS puts on the
  #                       topic's data keys, kms:EncryptionContext:aws:sns:topicArn = the alerts
  #                       topic (Amazon SNS Developer Guide, "Enable compatibility between event
  #                       sources from AWS services and encrypted topics")
  #   SNS → queue         aws:SourceArn = the topic delivering (a subscriber queue encrypted with
  #                       this key)
  #   EventBridge → queue kms:EncryptionContext:aws:sqs:arn = the queue: SQS encrypts each
  #                       queue's data keys under that context. The rule's own ARN is checked by
  #                       the queue policy (aws:SourceArn); EventBridge does not document sending
  #                       aws:SourceArn to KMS, and a condition on a key it does not send would
  #                       drop every event.
  statement {
    sid       = "S3NotificationsToTheQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
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
    sid       = "CloudWatchAlarmsToTheAlertsTopic"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.alert_alarm_arns
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.alerts_topic_arn]
    }
  }
  statement {
    sid       = "SnsToEncryptedSubscribers"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = sort([local.alerts_topic_arn, local.completion_topic_arn])
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
      sid       = "EventBridgeToTheQueue"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:sqs:arn"
        values   = [local.events_queue_arn, local.dlq_arn]
      }
    }
  }
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}

resource "aws_kms_key" "events" {
  description             = "${var.name}: event queue, dead-letter queue, completion and alert topics, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.events_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "events" {
  name          = "alias/${var.name}-events"
  target_key_id = aws_kms_key.events.key_id
}
