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
    them, the queue accepts their notifications, and source_notifications decides how their new
    objects reach the queue.
  EOT
  type        = list(string)
  validation {
    condition     = length(var.source_buckets) > 0
    error_message = "source_buckets: at least one bucket, or there is nothing to replicate."
  }
}

variable "source_notifications" {
  description = <<-EOT
    How the source buckets' new objects reach the event queue. No default: the choice decides
    whether this module rewrites the buckets' notification configurations.
      "s3_notification"  this module writes each source bucket's S3 notification configuration
                         (s3:ObjectCreated:* to the queue, plus the event types replicate_deletes
                         and restore_archived_sources add). A bucket has exactly one, and it is
                         REPLACED WHOLE: any other notification on the bucket (Lambda triggers,
                         other queues or topics, EventBridge delivery) is deleted, and the plan does
                         not show that. Only for buckets whose notifications nothing else uses.
      "eventbridge"      an EventBridge rule sends the buckets' "Object Created" events (plus
                         "Object Deleted" and "Object Restore Completed" when replicate_deletes and
                         restore_archived_sources) to the queue; the buckets' notification
                         configurations are not touched. Each bucket must have "Send
                         notifications to Amazon EventBridge" turned on (see the module README).
                         The way to add replication to a bucket that already notifies others.
      "none"             nothing is created; add the queue (output queue_arn) with the event
                         types of output source_notification_events to each bucket's existing
                         notification configuration yourself (see the module README).
  EOT
  type        = string
  validation {
    condition     = contains(["s3_notification", "eventbridge", "none"], var.source_notifications)
    error_message = "source_notifications: one of \"s3_notification\" (replaces each bucket's whole notification configuration), \"eventbridge\" or \"none\"."
  }
}

variable "manage_bucket_notifications" {
  description = "Replaced by source_notifications; setting it is an error that says what to use instead."
  type        = bool
  default     = null
  validation {
    condition     = var.manage_bucket_notifications == null
    error_message = "manage_bucket_notifications was replaced by source_notifications: true is now \"s3_notification\" (which replaces each bucket's whole notification configuration), false is \"none\"; \"eventbridge\" leaves the buckets' notification configurations alone."
  }
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

# Features of the daemon that need more events or permissions. Terraform cannot read config_toml,
# so each is a variable that must agree with the configuration: false while no rule (or target)
# uses the feature keeps the permission and the event type away; false while one does leaves the
# daemon without the events or the permission it needs (its calls answer 403 and it alerts).
# scripts/render_task_env.py checks the example's configuration against them.

variable "replicate_deletes" {
  description = <<-EOT
    Must be true when a rule in config_toml sets deletes = "replicate" (and false otherwise). The
    source buckets' deletions then reach the queue (s3:ObjectRemoved:* with "s3_notification",
    "Object Deleted" with "eventbridge"; add s3:ObjectRemoved:* yourself with "none"), and the task
    role may s3:DeleteObject in same_account_target_buckets (without a version ID: a versioned
    target gets a delete marker; s3:DeleteObjectVersion is never granted). Targets in other
    accounts: the target-account module's own replicate_deletes.
  EOT
  type        = bool
  default     = false
}

variable "restore_archived_sources" {
  description = <<-EOT
    Must be true when a rule in config_toml sets archived = "restore" (and false otherwise). The
    task role may s3:RestoreObject on the source buckets' objects (S3 Glacier Flexible Retrieval,
    Deep Archive, Intelligent-Tiering archive tiers), and completed restores reach the queue
    (s3:ObjectRestore:Completed, or "Object Restore Completed" with "eventbridge"; add
    s3:ObjectRestore:Completed yourself with "none"): the daemon copies when that event arrives.
  EOT
  type        = bool
  default     = false
}

variable "copy_object_lock" {
  description = <<-EOT
    Must be true when a target in config_toml sets object_lock = "copy" (and false otherwise). The
    task role may read the sources' retention and legal hold (s3:GetObjectRetention,
    s3:GetObjectLegalHold) and set them on replicas in same_account_target_buckets
    (s3:PutObjectRetention, s3:PutObjectLegalHold); those buckets need Object Lock enabled. Targets
    in other accounts: the target-account module's own copy_object_lock.
  EOT
  type        = bool
  default     = false
}

variable "environment" {
  description = "Extra environment variables for the container (e.g. S3R_QUEUE__CONCURRENCY, RUST_LOG). They win over the module's."
  type        = map(string)
  default     = {}
}

variable "container_secrets" {
  description = <<-EOT
    Environment variables of the container whose values ECS reads from Secrets Manager or SSM
    Parameter Store when a task starts (the container's "secrets"): variable name => ARN. For the
    credentials of targets outside AWS (R2, MinIO, …), whose [[targets]] entry in config_toml names
    the variables (access_key_id_env, secret_access_key_env). Each ARN is one of
      arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf                the secret's value
      arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf:KEY::          one key of a JSON secret
        (in general :JSON-KEY:VERSION-STAGE:VERSION-ID, each part may be empty)
      arn:aws:ssm:REGION:ACCOUNT:parameter/NAME                               a parameter (/a/b: parameter/a/b)
    The complete secret ARN, with the six characters Secrets Manager appends to the name: it is
    what IAM authorizes. The execution role may then read exactly these secrets
    (secretsmanager:GetSecretValue) and parameters (ssm:GetParameters), nothing else. Only the ARNs
    are in the task definition and in terraform's state, never the values; output
    container_environment does not include these variables. Names: not one the module sets
    (S3R_CONFIG_TOML, S3R_QUEUE__URL, S3R_COMPLETION__TOPIC_ARN, S3R_ALERTS__TOPIC_ARN,
    S3R_LOG__FORMAT, S3R_SERVER__LISTEN, AWS_REGION) nor a key of environment. Needs
    create_ecs_task_definition = true.
  EOT
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.container_secrets) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "container_secrets: each name must be an environment variable name: letters, digits and '_', not starting with a digit."
  }
  validation {
    # The keys of local.container_environment's own map (ecs.tf); tests/*.tftest.hcl checks that
    # this list is that map's keys.
    condition = length(setintersection(keys(var.container_secrets), [
      "S3R_CONFIG_TOML", "S3R_QUEUE__URL", "S3R_COMPLETION__TOPIC_ARN", "S3R_ALERTS__TOPIC_ARN",
      "S3R_LOG__FORMAT", "S3R_SERVER__LISTEN", "AWS_REGION",
    ])) == 0
    error_message = "container_secrets: S3R_CONFIG_TOML, S3R_QUEUE__URL, S3R_COMPLETION__TOPIC_ARN, S3R_ALERTS__TOPIC_ARN, S3R_LOG__FORMAT, S3R_SERVER__LISTEN and AWS_REGION are set by the module in the container's environment; a secret cannot have the same name (ECS refuses a name that is both)."
  }
  validation {
    condition = alltrue([
      for v in values(var.container_secrets) :
      can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}(:[^:]*:[^:]*:[^:]*)?$", v)) ||
      can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", v))
    ])
    error_message = "container_secrets: each value must be the ARN of a Secrets Manager secret, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf (complete: with the six characters after the name), optionally followed by :JSON-KEY:VERSION-STAGE:VERSION-ID (e.g. :access_key_id::), or of an SSM parameter, arn:aws:ssm:REGION:ACCOUNT:parameter/NAME."
  }
}

variable "container_secrets_kms_key_arns" {
  description = <<-EOT
    Customer-managed KMS keys that encrypt the secrets or SecureString parameters of
    container_secrets: the execution role may kms:Decrypt with them, only through Secrets Manager
    or SSM in the regions of those ARNs (kms:ViaService). Not needed for the AWS-managed keys
    aws/secretsmanager and aws/ssm. Each key's policy must allow it as well when the key does not
    delegate to IAM (or lives in another account).
  EOT
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for k in var.container_secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", k))])
    error_message = "container_secrets_kms_key_arns: each must be a key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (not an alias: IAM authorizes kms:Decrypt on the key)."
  }
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
  description = <<-EOT
    The s3-replicator image (built from the repository's Dockerfile), e.g.
    ACCOUNT.dkr.ecr.REGION.amazonaws.com/s3-replicator:1.0.0 or …/s3-replicator@sha256:DIGEST. For an
    ECR image the execution role may pull from that repository only (its ARN is derived from the
    URI; ecr_repository_arn overrides it).
  EOT
  type        = string
  validation {
    # An ECR registry host must be followed by a repository: the pull permissions are derived from it.
    condition = !can(regex("\\.dkr\\.ecr(-fips)?\\.[a-z0-9-]+\\.amazonaws\\.com", var.container_image)) || can(regex(
      "^[0-9]{12}\\.dkr\\.ecr(?:-fips)?\\.[a-z0-9-]+\\.amazonaws\\.com(?:\\.cn)?/[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$",
      var.container_image,
    ))
    error_message = "container_image: an ECR image must read ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG][@sha256:DIGEST] (REPOSITORY in lower case)."
  }
}

variable "ecr_repository_arn" {
  description = <<-EOT
    The ECR repository the execution role may pull from (arn:aws:ecr:REGION:ACCOUNT:repository/NAME).
    Null: derived from container_image when that is an ECR URI; an image outside ECR gets no ECR
    permissions. Set it when the image is referenced another way (e.g. a pull-through cache).
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.ecr_repository_arn == null || can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9][a-z0-9._/-]*$", var.ecr_repository_arn))
    error_message = "ecr_repository_arn: an ECR repository ARN, arn:aws:ecr:REGION:ACCOUNT:repository/NAME."
  }
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

variable "create_ecs_task_definition" {
  description = <<-EOT
    Create the ECS cluster and the daemon's task definition (default true). False only where ECS
    does not exist, e.g. an emulator without it (examples/localstack): the daemon then runs
    elsewhere with output container_environment, which is rendered either way. Needs
    create_ecs_service = false as well.
  EOT
  type        = bool
  default     = true
}

variable "create_ecs_service" {
  description = <<-EOT
    Create the ECS service, its autoscaling (Application Auto Scaling target and policies) and the
    three alarms that drive it (backlog-high, lag-scale-out, queue-quiet) (default true). False
    only where the service cannot run, e.g. an emulator without ECS or Application Auto Scaling
    (examples/localstack). The alarms for people (dlq-not-empty, lag-objective) stay.
  EOT
  type        = bool
  default     = true
}

variable "reconcile_schedule" {
  description = <<-EOT
    When to reconcile sources and targets: an EventBridge Scheduler expression, e.g. "rate(1 day)"
    or "cron(0 3 * * ? *)" (in reconcile_schedule_timezone). Null (the default): no reconciliation.
    Set, it runs the task definition as a standalone Fargate task with the command
    `verify --repair`, which sends each source object missing or different in a target to the
    event queue for the daemon to copy (objects only in a target are reported, never touched), and
    alarms on the alerts topic (reconcile-differences) when a run found any. The task role may
    then also sqs:SendMessage on the event queue. Needs create_ecs_task_definition = true.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.reconcile_schedule == null || can(regex("^(rate|cron)\\(.+\\)$", var.reconcile_schedule))
    error_message = "reconcile_schedule: null, or a recurring EventBridge Scheduler expression: rate(…) or cron(…), e.g. \"rate(1 day)\" or \"cron(0 3 * * ? *)\"."
  }
}

variable "reconcile_schedule_timezone" {
  description = "Time zone of a cron(…) reconcile_schedule (IANA name, e.g. \"Europe/Paris\")."
  type        = string
  default     = "UTC"
}

variable "subnet_ids" {
  description = "Private subnets for the tasks (they need a route to S3, SQS, SNS, STS, KMS, ECR and CloudWatch Logs, with container_secrets to Secrets Manager or SSM: NAT or VPC endpoints)."
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
  description = <<-EOT
    Replication lag objective: age of the oldest message above half of this scales out, above this
    for three minutes alarms (alerts topic). The daemon's own replication_late alert uses the same
    threshold: set lag_alert_secs of every rule in config_toml to this value, so that the alarm on
    the queue and the alert on late completions mean the same lateness.
  EOT
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Retention of the daemon's log group."
  type        = number
  default     = 365
}
