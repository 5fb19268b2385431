# Two roles: the execution role (ECS pulls the image and writes logs) and the task role (what the
# daemon itself may do). The task role gets exactly the calls the daemon makes, on exactly its
# resources:
#
#   sources      HeadObject/GetObject (s3:GetObject, s3:GetObjectVersion for versioned events),
#                GetObjectTagging (s3:GetObjectTagging / s3:GetObjectVersionTagging); ListBucket so
#                that a missing object answers 404, not 403
#   targets      CopyObject / PutObject / multipart uploads (s3:PutObject), PutObjectTagging,
#                AbortMultipartUpload, ListMultipartUploadParts, HeadObject for "already present"
#   other accts  sts:AssumeRole on the target-account writer roles
#   queue        ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch), GetQueueAttributes (/readyz)
#   topics       sns:Publish on the completion and alerts topics
#   KMS          the module's key (queue and topics), source keys to decrypt, target keys to encrypt

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- Execution role -----------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource to restrict it to
  }
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["arn:${local.partition}:ecr:*:${local.account_id}:repository/*"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.daemon.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# --- Task role ----------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "ReadSources"
    actions = [
      "s3:GetObject", "s3:GetObjectVersion",
      "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
    ]
    resources = [for arn in local.source_bucket_arns : "${arn}/*"]
  }
  statement {
    sid       = "ListSources"
    actions   = ["s3:ListBucket"]
    resources = local.source_bucket_arns
  }

  dynamic "statement" {
    for_each = length(var.same_account_target_buckets) > 0 ? [1] : []
    content {
      sid = "WriteSameAccountTargets"
      actions = [
        "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
      ]
      resources = [for b in var.same_account_target_buckets : "arn:${local.partition}:s3:::${b}/*"]
    }
  }
  dynamic "statement" {
    for_each = length(var.same_account_target_buckets) > 0 ? [1] : []
    content {
      sid       = "ListSameAccountTargets"
      actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
      resources = [for b in var.same_account_target_buckets : "arn:${local.partition}:s3:::${b}"]
    }
  }
  dynamic "statement" {
    for_each = length(var.target_role_arns) > 0 ? [1] : []
    content {
      sid       = "AssumeTargetAccountRoles"
      actions   = ["sts:AssumeRole"]
      resources = var.target_role_arns
    }
  }

  statement {
    sid = "ConsumeEvents"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.events.arn]
  }
  statement {
    sid       = "PublishCompletionsAndAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.completion.arn, aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "QueueAndTopicEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.events.arn]
  }

  dynamic "statement" {
    for_each = length(var.source_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSources"
      actions   = ["kms:Decrypt"]
      resources = var.source_kms_key_arns
    }
  }
  dynamic "statement" {
    for_each = length(var.target_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "EncryptSameAccountTargets"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.target_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "replicate"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# --- For the source buckets' owners -------------------------------------------------------------

# A cross-account target is written by its assumed role with a server-side copy, and that role
# reads the source itself. These statements belong in each source bucket's policy (the module does
# not own those policies: a bucket has one, and it usually holds more). Output:
# source_bucket_policy_statements.
data "aws_iam_policy_document" "source_read_for_target_roles" {
  count = length(var.target_role_arns) > 0 ? 1 : 0
  statement {
    sid       = "S3ReplicatorTargetRolesRead"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
    resources = [for arn in local.source_bucket_arns : "${arn}/*"]
    principals {
      type        = "AWS"
      identifiers = var.target_role_arns
    }
  }
  statement {
    sid       = "S3ReplicatorTargetRolesList"
    actions   = ["s3:ListBucket"]
    resources = local.source_bucket_arns
    principals {
      type        = "AWS"
      identifiers = var.target_role_arns
    }
  }
}
