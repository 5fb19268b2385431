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
