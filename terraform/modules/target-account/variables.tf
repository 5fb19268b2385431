# Inputs of the target-account side: the role the daemon assumes to write this account's buckets.

variable "role_name" {
  description = "Name of the writer role the daemon assumes (the target's role_arn in the daemon's configuration)."
  type        = string
  default     = "s3-replicator-writer"
}

variable "replicator_task_role_arn" {
  description = "The daemon's task role in the source account (replicator module output task_role_arn): the only principal trusted."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.replicator_task_role_arn))
    error_message = "replicator_task_role_arn: an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME."
  }
}

variable "external_id" {
  description = <<-EOT
    External ID the trust policy requires (the target's external_id in the daemon's configuration).
    It guards against the confused-deputy problem when the source account is run by another party.
  EOT
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224
    error_message = "external_id: 2 to 1224 characters (an STS limit)."
  }
}

variable "target_buckets" {
  description = "Buckets in this account the daemon writes replicas to (they must exist)."
  type        = list(string)
  validation {
    condition     = length(var.target_buckets) > 0
    error_message = "target_buckets: at least one bucket."
  }
}

variable "source_bucket_arns" {
  description = <<-EOT
    The source buckets (ARNs, in the source account). A server-side copy is made by this role, so it
    reads the source too; the source bucket policies must allow it as well (replicator module output
    source_bucket_policy_statements).
  EOT
  type        = list(string)
}

variable "source_kms_key_arns" {
  description = "KMS keys of SSE-KMS source objects: the role decrypts with them during the copy (their key policies must allow this account)."
  type        = list(string)
  default     = []
}

variable "manage_bucket_policies" {
  description = <<-EOT
    Whether this module writes the target buckets' policies (allow the writer role, deny plain HTTP).
    A bucket has one policy: set false when a bucket's policy is managed elsewhere, and add the
    statements of output bucket_policy_json there.
  EOT
  type        = bool
  default     = true
}

variable "manage_bucket_ownership_controls" {
  description = <<-EOT
    Whether this module sets the target buckets' object ownership to BucketOwnerEnforced (ACLs
    disabled: every object, replicas included, belongs to this account and ACLs are ignored). Null
    (the default): the same as manage_bucket_policies, since a bucket whose policy this module writes
    is one whose access it governs. Enforcing it makes PUTs that carry an ACL other than
    bucket-owner-full-control fail (e.g. ACL-based log delivery into the bucket), and destroying the
    setting leaves the bucket with ACLs enabled (ObjectWriter). False: set it yourself, see the
    module README.
  EOT
  type        = bool
  default     = null
}

variable "replicate_deletes" {
  description = <<-EOT
    Must be true when a rule in the daemon's configuration sets deletes = "replicate" for a target
    written by this role (and false otherwise): the writer role (and the bucket policies) then allow
    s3:DeleteObject on the target buckets' objects. The daemon deletes without a version ID, so a
    versioned target gets a delete marker; s3:DeleteObjectVersion is never granted.
  EOT
  type        = bool
  default     = false
}

variable "copy_object_lock" {
  description = <<-EOT
    Must be true when a target written by this role sets object_lock = "copy" in the daemon's
    configuration (and false otherwise): the writer role (and the bucket policies) then allow
    s3:PutObjectRetention and s3:PutObjectLegalHold, which a write carrying the source's retention
    and legal hold needs. The target buckets need Object Lock enabled.
  EOT
  type        = bool
  default     = false
}

variable "manage_lifecycle_rules" {
  description = <<-EOT
    Whether this module writes the target buckets' lifecycle configuration: one rule aborting
    incomplete multipart uploads after abort_incomplete_multipart_upload_days. A bucket has one
    lifecycle configuration and it is REPLACED WHOLE: every other rule on the bucket (transitions,
    expirations) is deleted, and the plan does not show that. Leave false for buckets with rules of
    their own and add the rule of output lifecycle_rule_json to their configuration instead.
  EOT
  type        = bool
  default     = false
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which an unfinished multipart upload into a target bucket is aborted and its parts deleted (the lifecycle rule of manage_lifecycle_rules and output lifecycle_rule_json)."
  type        = number
  default     = 7
  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days: a whole number of days, at least 1."
  }
}

variable "create_kms_key" {
  description = "Create a KMS key for the replicas whose key policy lets the writer role encrypt (set it as the targets' sse_kms_key_id or bucket default)."
  type        = bool
  default     = false
}

variable "target_kms_key_arns" {
  description = "Existing KMS keys the replicas are encrypted with (their key policies must allow the writer role)."
  type        = list(string)
  default     = []
}

variable "max_session_duration_seconds" {
  description = "Longest assumed-role session; the daemon refreshes its credentials before they expire."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags for every resource that takes tags."
  type        = map(string)
  default     = {}
}
