# Two roles: the execution role (ECS pulls the image, writes logs and reads container_secrets) and
# the task role (what the daemon itself may do). The task role gets exactly the calls the daemon
# makes, on exactly its resources:
#
#   sources      HeadObject/GetObject (s3:GetObject, s3:GetObjectVersion for versioned events),
#                GetObjectTagging (s3:GetObjectTagging / s3:GetObjectVersionTagging); ListBucket so
#                that a missing object answers 404, not 403
#                + restore_archived_sources: RestoreObject (s3:RestoreObject)
#                + copy_object_lock: the source's retention and legal hold (s3:GetObjectRetention,
#                  s3:GetObjectLegalHold; without them HeadObject leaves those headers out)
#   targets      CopyObject / PutObject / multipart uploads (s3:PutObject), PutObjectTagging,
#                AbortMultipartUpload, ListMultipartUploadParts, HeadObject for "already present"
#                + replicate_deletes: DeleteObject (s3:DeleteObject)
#                + copy_object_lock: writes that carry retention and legal hold
#                  (s3:PutObjectRetention, s3:PutObjectLegalHold)
#   other accts  sts:AssumeRole on the target-account writer roles
#   queue        ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch), GetQueueAttributes (/readyz)
#                + reconcile_schedule: SendMessage(Batch) (verify --repair sends the differences)
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

# The repository the image is pulled from: ecr_repository_arn, or derived from an ECR image URI
# ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG][@sha256:DIGEST]. An image outside ECR
# gets no ECR permissions at all.
locals {
  # Captures account, region, repository; the same shape container_image's validation accepts.
  ecr_image_pattern = "^([0-9]{12})\\.dkr\\.ecr(?:-fips)?\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([a-z0-9][a-z0-9._/-]*?)(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
  ecr_image_parts   = try(regex(local.ecr_image_pattern, var.container_image), null)
  ecr_repository_arn = (
    var.ecr_repository_arn != null ? var.ecr_repository_arn :
    local.ecr_image_parts == null ? "" :
    "arn:${local.partition}:ecr:${local.ecr_image_parts[1]}:${local.ecr_image_parts[0]}:repository/${local.ecr_image_parts[2]}"
  )
}

# container_secrets (ecs.tf): ECS reads them with the execution role when a task starts, so the
# role may read exactly those secrets and parameters. A Secrets Manager reference may name one key
# of a JSON secret and a version (…:secret:NAME-AbCdEf:JSON-KEY:VERSION-STAGE:VERSION-ID); IAM
# authorizes secretsmanager:GetSecretValue on the secret itself, the ARN up to NAME-AbCdEf. ECS
# reads parameters with ssm:GetParameters. A customer-managed key of those secrets or parameters
# (container_secrets_kms_key_arns) may decrypt only through those services, in the regions of
# those ARNs (kms:ViaService); the AWS-managed aws/secretsmanager and aws/ssm keys need nothing.
locals {
  container_secret_arns = sort(distinct([
    for v in values(var.container_secrets) :
    regex("^arn:[^:]+:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+", v)
    if can(regex("^arn:[^:]+:secretsmanager:", v))
  ]))
  container_parameter_arns = sort(distinct([
    for v in values(var.container_secrets) : v if can(regex("^arn:[^:]+:ssm:", v))
  ]))
  container_secrets_via_services = sort(distinct(concat(
    [for arn in local.container_secret_arns : "secretsmanager.${split(":", arn)[3]}.amazonaws.com"],
    [for arn in local.container_parameter_arns : "ssm.${split(":", arn)[3]}.amazonaws.com"],
  )))
}

data "aws_iam_policy_document" "execution" {
  dynamic "statement" {
    for_each = local.ecr_repository_arn != "" ? [1] : []
    content {
      sid     = "EcrLogin"
      actions = ["ecr:GetAuthorizationToken"]
      # GetAuthorizationToken is not a repository action: the token it returns is the registry's
      # login and IAM authorizes it only on "*" (no resource-level permissions). What the token
      # may pull is decided by PullImage below.
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = local.ecr_repository_arn != "" ? [1] : []
    content {
      sid       = "PullImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
      resources = [local.ecr_repository_arn]
    }
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }
  dynamic "statement" {
    for_each = length(local.container_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadContainerSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.container_secret_arns
    }
  }
  dynamic "statement" {
    for_each = length(local.container_parameter_arns) > 0 ? [1] : []
    content {
      sid       = "ReadContainerParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.container_parameter_arns
    }
  }
  dynamic "statement" {
    for_each = length(var.container_secrets) > 0 && length(var.container_secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptContainerSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.container_secrets_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = local.container_secrets_via_services
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  # The name predates container_secrets; kept, so that the policy is updated in place.
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json

  lifecycle {
    precondition {
      condition     = length(var.container_secrets) == 0 || var.create_ecs_task_definition
      error_message = "container_secrets needs create_ecs_task_definition = true: the secrets reach the container through the module's task definition."
    }
    precondition {
      condition     = length(var.container_secrets_kms_key_arns) == 0 || length(var.container_secrets) > 0
      error_message = "container_secrets_kms_key_arns is set but container_secrets is empty: there is nothing to decrypt."
    }
  }
}

# --- Task role ----------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

# The optional S3 actions, each behind the variable that says the configuration needs it
# (terraform cannot read config_toml, so the variables mirror its keys; see variables.tf). Nothing
# is granted for a feature the configuration does not use.
locals {
  source_object_actions = concat(
    [
      "s3:GetObject", "s3:GetObjectVersion",
      "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
    ],
    # Without these two, HeadObject answers without the x-amz-object-lock-* headers and the
    # replica would silently carry no retention.
    var.copy_object_lock ? ["s3:GetObjectRetention", "s3:GetObjectLegalHold"] : [],
  )
  same_account_target_object_actions = concat(
    [
      "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ],
    # DeleteObject without a version ID: on a versioned target it adds a delete marker, and the
    # replica's versions stay. s3:DeleteObjectVersion (which destroys versions for good) is not
    # granted: the daemon never sends a version ID, and a target kept for recovery keeps its history.
    var.replicate_deletes ? ["s3:DeleteObject"] : [],
    # A PutObject, CopyObject or CreateMultipartUpload that sets x-amz-object-lock-mode /
    # -retain-until-date / -legal-hold is authorized by these as well as by s3:PutObject.
    var.copy_object_lock ? ["s3:PutObjectRetention", "s3:PutObjectLegalHold"] : [],
  )
}

# The S3 statements in a document of their own: they depend on variables only, so their JSON is
# known when planning (tests/*.tftest.hcl assert it), unlike the queue, topic and key ARNs below.
data "aws_iam_policy_document" "task_s3" {
  statement {
    sid       = "ReadSources"
    actions   = local.source_object_actions
    resources = [for arn in local.source_bucket_arns : "${arn}/*"]
  }
  # RestoreObject on archived sources (S3 Glacier Flexible Retrieval, Deep Archive, the
  # Intelligent-Tiering archive tiers) when a rule says archived = "restore"; the copy follows the
  # s3:ObjectRestore:Completed event. Only the source objects: replicas are never restored.
  dynamic "statement" {
    for_each = var.restore_archived_sources ? [1] : []
    content {
      sid       = "RestoreArchivedSources"
      actions   = ["s3:RestoreObject"]
      resources = [for arn in local.source_bucket_arns : "${arn}/*"]
    }
  }
  statement {
    sid       = "ListSources"
    actions   = ["s3:ListBucket"]
    resources = local.source_bucket_arns
  }

  dynamic "statement" {
    for_each = length(var.same_account_target_buckets) > 0 ? [1] : []
    content {
      sid       = "WriteSameAccountTargets"
      actions   = local.same_account_target_object_actions
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
}

# verify --repair (reconcile_schedule) runs with this role and sends one event per difference to
# the queue (SendMessageBatch is authorized by sqs:SendMessage). Its listing and reads need
# nothing more: ReadSources, ListSources, WriteSameAccountTargets (s3:GetObject) and
# ListSameAccountTargets above, and for targets in other accounts the target-account roles' own
# s3:ListBucket and s3:GetObject. The queue's ARN is formed from its name, so that this statement
# is known when planning (tests/*.tftest.hcl).
data "aws_iam_policy_document" "task_reconcile" {
  count = var.reconcile_schedule != null ? 1 : 0
  statement {
    sid       = "ReconcileSendsRepairs"
    actions   = ["sqs:SendMessage"]
    resources = [local.events_queue_arn]
  }
}

data "aws_iam_policy_document" "task" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.task_s3.json],
    data.aws_iam_policy_document.task_reconcile[*].json,
  )

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
