# The daemon as a Fargate service.
#
# Configuration reaches the container as environment variables, nothing else:
#   S3R_CONFIG_TOML            the whole TOML file (targets and rules: arrays of tables cannot be
#                              given as S3R_… variables); the binary reads it when no --config
#                              file is given
#   S3R_QUEUE__URL, S3R_COMPLETION__TOPIC_ARN, S3R_ALERTS__TOPIC_ARN
#                              the resources this module creates, overriding the file
#   S3R_LOG__FORMAT, S3R_SERVER__LISTEN
#                              JSON logs for CloudWatch, health and metrics on metrics_port
# Why not a file on EFS or an SSM parameter: both need more infrastructure and permissions, and a
# change would not restart the tasks. A changed environment is a new task definition revision, so
# every configuration change is a rolling deployment that ECS can roll back. The configuration
# holds no secrets (credentials for AWS come from the task role), so the environment is a fine
# place. Credentials of targets outside AWS (R2, MinIO, …) are the exception: container_secrets
# names the Secrets Manager secrets or SSM parameters ECS reads them from when a task starts, into
# the variables the [[targets]] entries name (the container's "secrets", below; only ARNs in the
# task definition, and not in container_environment).
# scripts/check-terraform.sh renders exactly this environment for the example and runs
# `s3-replicator check-config` on it.

locals {
  container_environment = merge(
    {
      S3R_CONFIG_TOML           = var.config_toml
      S3R_QUEUE__URL            = aws_sqs_queue.events.url
      S3R_COMPLETION__TOPIC_ARN = aws_sns_topic.completion.arn
      S3R_ALERTS__TOPIC_ARN     = aws_sns_topic.alerts.arn
      S3R_LOG__FORMAT           = "json"
      S3R_SERVER__LISTEN        = "0.0.0.0:${var.metrics_port}"
      AWS_REGION                = local.region
    },
    var.environment,
  )

  # The container's "secrets": name => ARN of a secret (or of one key of a JSON secret) or of an
  # SSM parameter; ECS reads the values with the execution role (iam.tf).
  container_secrets = [
    for k in sort(keys(var.container_secrets)) : { name = k, valueFrom = var.container_secrets[k] }
  ]
}

resource "aws_cloudwatch_log_group" "daemon" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.events.arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  count = var.create_ecs_task_definition ? 1 : 0
  name  = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_ecs_task_definition" "daemon" {
  count                    = var.create_ecs_task_definition ? 1 : 0
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # "secrets" only when there are any: without, the definition is what it was before
  # container_secrets existed (no new revision for deployments that do not use it).
  container_definitions = jsonencode([merge(
    {
      name      = "s3-replicator"
      image     = var.container_image
      essential = true
      command   = ["run"]
      # The image's user; repeated so that a differently built image cannot run as root.
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      privileged             = false
      stopTimeout            = var.stop_timeout_seconds
      environment = [
        for k in sort(keys(local.container_environment)) : { name = k, value = local.container_environment[k] }
      ]
      portMappings = [{ containerPort = var.metrics_port, protocol = "tcp" }]
      healthCheck = {
        # /healthz answers while the process runs; readiness (/readyz) is for dashboards and
        # scrapers: a queue outage must not make ECS replace every task at once.
        command     = ["CMD", "/usr/local/bin/s3-replicator", "healthcheck"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.daemon.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "daemon"
        }
      }
    },
    length(local.container_secrets) > 0 ? { secrets = local.container_secrets } : {},
  )])
  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(setintersection(keys(var.container_secrets), keys(var.environment))) == 0
      error_message = "container_secrets and environment both set ${join(", ", setintersection(keys(var.container_secrets), keys(var.environment)))}: a variable is either plain or secret (ECS refuses a name that is both)."
    }
  }
}

resource "aws_ecs_service" "daemon" {
  count                  = var.create_ecs_service ? 1 : 0
  name                   = var.name
  cluster                = one(aws_ecs_cluster.this[*].id)
  task_definition        = one(aws_ecs_task_definition.daemon[*].arn)
  desired_count          = var.min_tasks
  launch_type            = "FARGATE"
  enable_execute_command = false
  propagate_tags         = "SERVICE"

  # Replicas are interchangeable consumers of one queue: replace them freely, and keep at least
  # the running ones while a new revision starts.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
    precondition {
      condition     = var.create_ecs_task_definition
      error_message = "create_ecs_service = true needs create_ecs_task_definition = true: the service runs the module's task definition in its cluster."
    }
  }
  tags = var.tags
}

# create_ecs_task_definition and create_ecs_service (both default true) gave these resources a
# count: the state of a deployment made before keeps its cluster, task definition and service.
moved {
  from = aws_ecs_cluster.this
  to   = aws_ecs_cluster.this[0]
}

moved {
  from = aws_ecs_task_definition.daemon
  to   = aws_ecs_task_definition.daemon[0]
}

moved {
  from = aws_ecs_service.daemon
  to   = aws_ecs_service.daemon[0]
}
