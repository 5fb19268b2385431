# The target account's side of s3-replicator: a writer role that only the daemon's task role may
# assume (with the external ID), allowed to write the target buckets and to read the sources
# during server-side copies; the target buckets' policies and object ownership; optionally a KMS
# key for the replicas and a lifecycle rule.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id         = data.aws_caller_identity.current.account_id
  partition          = data.aws_partition.current.partition
  target_bucket_arns = [for b in var.target_buckets : "arn:${local.partition}:s3:::${b}"]
  kms_key_arns       = concat(var.target_kms_key_arns, aws_kms_key.replicas[*].arn)

  # What the writer role does to the target buckets' objects, granted by its policy and by the
  # bucket policies alike. The optional actions follow the daemon's configuration (terraform cannot
  # read it, hence the variables; see variables.tf):
  #   replicate_deletes  DeleteObject without a version ID (a delete marker on a versioned target,
  #                      the replica's versions stay); s3:DeleteObjectVersion, which destroys
  #                      versions for good, is never granted
  #   copy_object_lock   a PutObject, CopyObject or CreateMultipartUpload that sets the
  #                      x-amz-object-lock-* headers needs these as well as s3:PutObject
  # The source's retention and legal hold are read by the daemon's task role in the source
  # account (its HeadObject), not by this role: a server-side copy does not carry them over.
  writer_object_actions = concat(
    [
      "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ],
    var.replicate_deletes ? ["s3:DeleteObject"] : [],
    var.copy_object_lock ? ["s3:PutObjectRetention", "s3:PutObjectLegalHold"] : [],
  )
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
    sid       = "WriteReplicas"
    actions   = local.writer_object_actions
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
    sid       = "ReplicatorWrites"
    actions   = local.writer_object_actions
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

# --- Object ownership of the target buckets -----------------------------------------------------

# Replicas are owned by this account: the writer role (of this account) writes them, and the
# daemon sends no ACL and copies none. BucketOwnerEnforced makes that hold for every object and
# turns ACLs off, so nothing written into the bucket can be shared or kept out of reach by an ACL.
# It is the default of buckets created since April 2023; older buckets may still have ACLs on.
#
# Written by default only where this module writes the bucket policy (manage_bucket_policies): a
# bucket handed to this module for its access rules is one whose ownership setting it may decide
# too; a bucket whose policy is managed elsewhere keeps its setting unless asked
# (manage_bucket_ownership_controls = true). Enforcing breaks writers that still send ACLs (other
# than bucket-owner-full-control), and destroying the resource deletes the setting, which leaves
# the bucket with ACLs enabled (ObjectWriter): remove it from the state instead when handing the
# bucket back.
locals {
  manage_bucket_ownership_controls = coalesce(var.manage_bucket_ownership_controls, var.manage_bucket_policies)
}

resource "aws_s3_bucket_ownership_controls" "targets" {
  for_each = local.manage_bucket_ownership_controls ? toset(var.target_buckets) : toset([])
  bucket   = each.value
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
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
