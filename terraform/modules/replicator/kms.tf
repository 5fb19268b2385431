# One customer-managed key for the queues, the topics and the log group. The AWS-managed keys
# (aws/sqs, aws/sns) cannot be used here: their key policies cannot be changed, and S3 (sending
# notifications), CloudWatch (alarm actions) and CloudWatch Logs all need grants on the key.

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
  statement {
    sid       = "S3NotificationsToTheQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
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
  }
  statement {
    sid       = "SnsToEncryptedSubscribers"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
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
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/ecs/${var.name}"]
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
