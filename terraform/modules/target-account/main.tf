# The target account's side of s3-replicator: a writer role that only the daemon's task role may
# assume (with the external ID), allowed to write the target buckets and to read the sources
# during server-side copies; the target buckets' policies; optionally a KMS key for the replicas.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id         = data.aws_caller_identity.current.account_id
  partition          = data.aws_partition.current.partition
  target_bucket_arns = [for b in var.target_buckets : "arn:${local.partition}:s3:::${b}"]
  kms_key_arns       = concat(var.target_kms_key_arns, aws_kms_key.replicas[*].arn)
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.replicator_task_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "writer" {
  name                 = var.role_name
  description          = "Assumed by s3-replicator to write replicas into this account."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration_seconds
  tags                 = var.tags
}

data "aws_iam_policy_document" "writer" {
  statement {
    sid = "WriteReplicas"
    actions = [
      "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = [for arn in local.target_bucket_arns : "${arn}/*"]
  }
  statement {
    sid       = "ListTargets"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = local.target_bucket_arns
  }
  statement {
    sid       = "ReadSourcesDuringServerSideCopy"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
    resources = [for arn in var.source_bucket_arns : "${arn}/*"]
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
    for_each = length(var.target_kms_key_arns) > 0 || var.create_kms_key ? [1] : []
    content {
      sid       = "EncryptReplicas"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = local.kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "writer" {
  name   = "write-replicas"
  role   = aws_iam_role.writer.id
  policy = data.aws_iam_policy_document.writer.json
}

# --- Target bucket policies ---------------------------------------------------------------------

data "aws_iam_policy_document" "bucket" {
  for_each = toset(var.target_buckets)
  statement {
    sid = "ReplicatorWrites"
    actions = [
      "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["arn:${local.partition}:s3:::${each.value}/*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.writer.arn]
    }
  }
  statement {
    sid       = "ReplicatorLists"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = ["arn:${local.partition}:s3:::${each.value}"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.writer.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["arn:${local.partition}:s3:::${each.value}", "arn:${local.partition}:s3:::${each.value}/*"]
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

resource "aws_s3_bucket_policy" "targets" {
  for_each = var.manage_bucket_policies ? toset(var.target_buckets) : toset([])
  bucket   = each.value
  policy   = data.aws_iam_policy_document.bucket[each.value].json
}

# --- Optional KMS key for the replicas ----------------------------------------------------------

data "aws_iam_policy_document" "replicas_key" {
  # A key policy is the key's own resource policy: "*" as its resource means this key and no other,
  # and kms:* for the account root is the administration statement AWS requires so that IAM
  # policies in the account can grant use of the key at all.
  #checkov:skip=CKV_AWS_109:"*" in a key policy is the key itself; the account root must administer it.
  #checkov:skip=CKV_AWS_111:"*" in a key policy is the key itself; writes are granted to named services only.
  #checkov:skip=CKV_AWS_356:"*" in a key policy is the key itself, not every resource.
  count = var.create_kms_key ? 1 : 0
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
    sid       = "WriterEncryptsReplicas"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.writer.arn]
    }
  }
}

resource "aws_kms_key" "replicas" {
  count                   = var.create_kms_key ? 1 : 0
  description             = "s3-replicator replicas in this account"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.replicas_key[0].json
  tags                    = var.tags
}

# --- Optional lifecycle rule: abort incomplete multipart uploads ---------------------------------

# A multipart upload the daemon starts and cannot finish (a task stopped mid-copy, a crash) keeps
# its parts, billed as storage, until it is aborted. The daemon aborts the uploads it abandons
# itself; this rule removes what is left after abort_incomplete_multipart_upload_days.
#
# A bucket has one lifecycle configuration and PutBucketLifecycleConfiguration replaces all of it:
# with manage_lifecycle_rules = true every other rule on the target buckets (transitions,
# expirations) is deleted, and the plan does not show that. Hence opt-in; otherwise add the rule of
# output lifecycle_rule_json to each bucket's existing configuration.
locals {
  abort_incomplete_uploads_rule = {
    ID     = "s3-replicator-abort-incomplete-multipart-uploads"
    Status = "Enabled"
    Filter = {}
    AbortIncompleteMultipartUpload = {
      DaysAfterInitiation = var.abort_incomplete_multipart_upload_days
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "targets" {
  for_each = var.manage_lifecycle_rules ? toset(var.target_buckets) : toset([])
  bucket   = each.value

  rule {
    id     = local.abort_incomplete_uploads_rule.ID
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }
}
