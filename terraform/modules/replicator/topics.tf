# The completion topic (downstream jobs subscribe) and the alerts topic (people subscribe by email;
# the CloudWatch alarms publish here too).

resource "aws_sns_topic" "completion" {
  name                        = local.completion_topic
  fifo_topic                  = var.completion_topic_fifo ? true : null
  content_based_deduplication = var.completion_topic_fifo ? false : null # the daemon sends its own deduplication ID
  kms_master_key_id           = aws_kms_key.events.arn
  tags                        = var.tags
}

resource "aws_sns_topic" "alerts" {
  name              = local.alerts_topic
  kms_master_key_id = aws_kms_key.events.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid       = "AccountUses"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"]
    resources = [local.alerts_topic_arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  # The module's alarms and no others: CloudWatch sends the alarm's ARN as aws:SourceArn.
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arn]
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
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

resource "aws_sns_topic_subscription" "alert_emails" {
  for_each  = toset(var.alert_emails)
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}
