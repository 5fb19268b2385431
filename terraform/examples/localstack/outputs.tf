output "container_environment" {
  description = "The ECS task's environment as the replicator module renders it (scripts/deploy-check.sh runs the daemon with it)."
  value       = module.replicator.container_environment
}

output "source_bucket" {
  description = "Upload here."
  value       = aws_s3_bucket.source.bucket
}

output "target_buckets" {
  description = "Every target bucket, with its region."
  value = {
    (aws_s3_bucket.analytics.bucket) = "eu-west-1"
    (aws_s3_bucket.dr.bucket)        = "us-west-2"
  }
}

output "completions_queue_url" {
  description = "The queue subscribed to the completion topic."
  value       = aws_sqs_queue.completions.url
}

output "queue_url" {
  description = "The event queue."
  value       = module.replicator.queue_url
}

output "dlq_url" {
  description = "The dead-letter queue."
  value       = module.replicator.dlq_url
}
