output "queue_url" {
  description = "The event queue."
  value       = module.replicator.queue_url
}

output "dlq_url" {
  description = "The dead-letter queue."
  value       = module.replicator.dlq_url
}

output "completion_topic_arn" {
  description = "Subscribe the downstream jobs here."
  value       = module.replicator.completion_topic_arn
}

output "dr_writer_role_arn" {
  description = "Must equal the dr-account target's role_arn in replicator.toml."
  value       = module.dr_account.writer_role_arn
}

output "source_bucket_policy_statements" {
  description = "Add these statements to the source bucket's policy: the DR writer role reads the source during its server-side copy."
  value       = module.replicator.source_bucket_policy_statements
}
