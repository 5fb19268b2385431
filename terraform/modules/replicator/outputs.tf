output "queue_url" {
  description = "The event queue (the daemon's queue.url)."
  value       = aws_sqs_queue.events.url
}

output "queue_arn" {
  description = "The event queue's ARN: the destination for source bucket notifications managed elsewhere."
  value       = aws_sqs_queue.events.arn
}

output "dlq_url" {
  description = "The dead-letter queue; see the runbook to redrive it."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "The dead-letter queue's ARN (source of a redrive: aws sqs start-message-move-task)."
  value       = aws_sqs_queue.dlq.arn
}

output "completion_topic_arn" {
  description = "Subscribe downstream jobs here: one event per object and rule, after every target holds it."
  value       = aws_sns_topic.completion.arn
}

output "alerts_topic_arn" {
  description = "Alerts from the daemon and the CloudWatch alarms."
  value       = aws_sns_topic.alerts.arn
}

output "task_role_arn" {
  description = "The daemon's identity: trust it in each target account (target-account module's replicator_task_role_arn)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "The ECS execution role (image pull, logs, container_secrets)."
  value       = aws_iam_role.execution.arn
}

output "kms_key_arn" {
  description = "The key encrypting the queues, topics and log group. Encrypted subscriber queues need their own key policy for SNS."
  value       = aws_kms_key.events.arn
}

output "cluster_name" {
  description = "The ECS cluster (null when create_ecs_task_definition is false)."
  value       = one(aws_ecs_cluster.this[*].name)
}

output "service_name" {
  description = "The ECS service (scale with aws ecs update-service or the autoscaling bounds); null when create_ecs_service is false."
  value       = one(aws_ecs_service.daemon[*].name)
}

output "log_group_name" {
  description = "The daemon's JSON logs."
  value       = aws_cloudwatch_log_group.daemon.name
}

output "container_environment" {
  description = "The environment the container runs with (includes the configuration file as S3R_CONFIG_TOML); not the variables of container_secrets, which ECS reads when a task starts."
  value       = local.container_environment
}

output "source_bucket_policy_statements" {
  description = <<-EOT
    Policy statements (JSON) to add to each source bucket's policy when targets in other accounts are
    written by an assumed role: that role reads the source during the server-side copy. Null when
    target_role_arns is empty.
  EOT
  value       = length(var.target_role_arns) > 0 ? data.aws_iam_policy_document.source_read_for_target_roles[0].json : null
}

output "source_notification_events" {
  description = <<-EOT
    The S3 event types the queue must receive from each source bucket (s3:ObjectCreated:*, plus
    s3:ObjectRemoved:* with replicate_deletes and s3:ObjectRestore:Completed with
    restore_archived_sources): the Events of the queue's entry when source_notifications = "none".
  EOT
  value       = local.source_notification_events
}
