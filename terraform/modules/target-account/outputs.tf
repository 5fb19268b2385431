output "writer_role_arn" {
  description = "The role the daemon assumes: the targets' role_arn in its configuration, and the replicator module's target_role_arns."
  value       = aws_iam_role.writer.arn
}

output "kms_key_arn" {
  description = "The replicas' KMS key when create_kms_key is true (the targets' sse_kms_key_id), else null."
  value       = var.create_kms_key ? aws_kms_key.replicas[0].arn : null
}

output "bucket_policy_json" {
  description = "The policy per target bucket, for buckets whose policy is managed elsewhere (manage_bucket_policies = false)."
  value       = { for b, doc in data.aws_iam_policy_document.bucket : b => doc.json }
}

output "lifecycle_rule_json" {
  description = <<-EOT
    The lifecycle rule aborting incomplete multipart uploads, as a lifecycle configuration (JSON, the
    shape of `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration`). Add its rule
    to each target bucket's existing configuration when manage_lifecycle_rules is false.
  EOT
  value       = jsonencode({ Rules = [local.abort_incomplete_uploads_rule] })
}
