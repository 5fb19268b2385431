# Inputs of the s3-replicator deployment in the source account (the account and region of the
# source buckets: S3 delivers notifications to SQS only within one region).

variable "name" {
  description = "Prefix of every resource name (queue, topics, roles, cluster, service, log group)."
  type        = string
  default     = "s3-replicator"
  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name: 1 to 40 letters, digits and '-' (it becomes part of queue, topic and role names)."
  }
}

variable "tags" {
  description = "Tags for every resource that takes tags."
  type        = map(string)
  default     = {}
}

# --- What the daemon replicates ---------------------------------------------------------------

variable "source_buckets" {
  description = <<-EOT
    Buckets (in this account and region) whose new objects are replicated. The task role may read
    them, the queue accepts their notifications, and, when manage_bucket_notifications is true,
    their ObjectCreated notifications are pointed at the queue.
  EOT
  type        = list(string)
  validation {
    condition     = length(var.source_buckets) > 0
    error_message = "source_buckets: at least one bucket, or there is nothing to replicate."
  }
}

variable "manage_bucket_notifications" {
  description = <<-EOT
    Whether this module owns the notification configuration of the source buckets. An S3 bucket has
    exactly one notification configuration: set this to false when a bucket already notifies other
    destinations, and add the queue (output queue_arn) to that configuration yourself.
  EOT
  type        = bool
  default     = true
}

variable "same_account_target_buckets" {
  description = "Target buckets written with the task role itself (no role_arn in the configuration): any region, this account."
  type        = list(string)
  default     = []
}

variable "target_role_arns" {
  description = "Roles the daemon assumes to write targets in other accounts (the target-account module's writer_role_arn)."
  type        = list(string)
  default     = []
}

variable "source_kms_key_arns" {
  description = "KMS keys that encrypt source objects (SSE-KMS): the task role may decrypt with them."
  type        = list(string)
  default     = []
}

variable "target_kms_key_arns" {
  description = "KMS keys of same-account targets (sse_kms_key_id or bucket default): the task role may encrypt with them."
  type        = list(string)
  default     = []
}

variable "config_toml" {
  description = <<-EOT
    The daemon's configuration file (TOML): [[targets]], [[rules]] and any tuning. The queue URL, both
    topic ARNs, the log format and the health/metrics address are set by this module through S3R_…
    variables, which override the file; leave them out of it. Validate it with
    `s3-replicator check-config` (scripts/check-terraform.sh does that for the example).
  EOT
  type        = string
}

variable "environment" {
  description = "Extra environment variables for the container (e.g. S3R_QUEUE__CONCURRENCY, RUST_LOG). They win over the module's."
  type        = map(string)
  default     = {}
}

# --- Queue and topics -------------------------------------------------------------------------

variable "max_receive_count" {
  description = "Deliveries of a message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5
}

variable "queue_visibility_timeout_seconds" {
  description = "The queue's default visibility timeout; the daemon sets its own (queue.visibility_timeout_secs) on every receive."
  type        = number
  default     = 120
}

variable "dlq_retention_seconds" {
  description = "How long dead-lettered messages are kept (SQS maximum: 14 days)."
  type        = number
  default     = 1209600
}

variable "completion_topic_fifo" {
  description = <<-EOT
    Make the completion topic FIFO (name ends in .fifo). The daemon then sends the source bucket as
    message group and a deduplication ID derived from rule, bucket, key, ETag and version, so that a
    redelivered message does not announce the same object version twice within SNS's 5-minute
    deduplication window. FIFO topics deliver only to SQS (FIFO) queues.
  EOT
  type        = bool
  default     = false
}

variable "alert_emails" {
  description = "Email addresses subscribed to the alerts topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

# --- Service ----------------------------------------------------------------------------------

variable "container_image" {
  description = "The s3-replicator image (built from the repository's Dockerfile), e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/s3-replicator:1.0.0."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate task memory in MiB. Leave room above copy.max_inflight_bytes."
  type        = number
  default     = 1024
}

variable "subnet_ids" {
  description = "Private subnets for the tasks (they need a route to S3, SQS, SNS, STS, KMS, ECR and CloudWatch Logs: NAT or VPC endpoints)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks: outbound HTTPS; inbound on the metrics port only from the Prometheus scraper."
  type        = list(string)
}

variable "metrics_port" {
  description = "Port of /healthz, /readyz and /metrics in the container (server.listen)."
  type        = number
  default     = 9090
}

variable "stop_timeout_seconds" {
  description = <<-EOT
    Seconds between SIGTERM and SIGKILL when a task stops (Fargate maximum 120). The daemon stops
    receiving at once and finishes its in-flight copies; anything unfinished is redelivered.
  EOT
  type        = number
  default     = 120
}

variable "min_tasks" {
  description = "Fewest tasks; 1 keeps the replication lag low when the queue is quiet."
  type        = number
  default     = 1
}

variable "max_tasks" {
  description = "Most tasks autoscaling may run."
  type        = number
  default     = 10
}

variable "scale_out_backlog" {
  description = "Visible messages above which one more task is started (checked every minute)."
  type        = number
  default     = 500
}

variable "lag_objective_seconds" {
  description = "Replication lag objective: age of the oldest message above this scales out, and alarms after three minutes."
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Retention of the daemon's log group."
  type        = number
  default     = 365
}
