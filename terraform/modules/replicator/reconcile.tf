# Scheduled reconciliation (reconcile_schedule, off by default): an EventBridge Scheduler schedule
# runs the daemon's task definition once more as a standalone Fargate task with the command
# `verify --repair` instead of `run` (the image's entrypoint is the binary, so the container
# override replaces only the subcommand). The run lists every rule's source and targets, and
# sends one event per difference to the event queue, where the daemon copies it like any other:
#   missing, size differs, content differs  an event S3 did not deliver, or a copy that was lost
#   only in target                          reported in the run's output, never touched
# It then logs, in JSON, {"message":"Differences sent for repair.","differences":N,…}: a metric
# filter on the log group turns N into a metric, and an alarm on the alerts topic says when a
# run found any. Differences that a run repairs are expected to be rare; a steady stream of them
# means events are being lost on the way to the queue (see the runbook).
#
# Needs the module's task definition and cluster (create_ecs_task_definition); it does not need
# the service. Neither LocalStack's community edition (examples/localstack) nor any emulator the
# project tests with runs ECS tasks or Scheduler schedules: nothing here exists by default.

locals {
  reconcile = var.reconcile_schedule != null
  # The schedule's ARN, formed from its name: the scheduler role's trust policy is bound to it
  # (the schedule refers to the role, so the role cannot refer to the schedule's attributes).
  reconcile_schedule_name = "${var.name}-reconcile"
  reconcile_schedule_arn  = "${format(local.arn_prefix, "scheduler")}:schedule/default/${local.reconcile_schedule_name}"
  # Every revision of the module's task definition family, and the module's cluster.
  task_definition_family_arn = "${format(local.arn_prefix, "ecs")}:task-definition/${var.name}:*"
  cluster_arn                = "${format(local.arn_prefix, "ecs")}:cluster/${var.name}"
  # The two roles the task runs with (iam.tf), formed from their names like the ARNs above, so
  # that the scheduler's policy is known when planning (tests/*.tftest.hcl).
  task_role_arn      = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-task"
  execution_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-execution"
  # The metric the log filter writes: one namespace per deployment, so that two deployments in
  # one account and region do not alarm on each other's differences.
  reconcile_metric_namespace = "s3-replicator/${var.name}"
  reconcile_metric_name      = "ReconcileDifferences"
}

# --- The scheduler's role: start the task, hand it its two roles ---------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  count = local.reconcile ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.reconcile_schedule_arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count              = local.reconcile ? 1 : 0
  name               = "${var.name}-reconcile-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume[0].json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  count = local.reconcile ? 1 : 0
  statement {
    sid       = "RunReconcileTask"
    actions   = ["ecs:RunTask"]
    resources = [local.task_definition_family_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [local.task_role_arn, local.execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count  = local.reconcile ? 1 : 0
  name   = "run-reconcile-task"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler[0].json
}

# --- The schedule ---------------------------------------------------------------------------------

resource "aws_scheduler_schedule" "reconcile" {
  #checkov:skip=CKV_AWS_297:the schedule's only payload is the container override ["verify", "--repair"]: nothing secret; the AWS-owned key encrypts it.
  count                        = local.reconcile ? 1 : 0
  name                         = local.reconcile_schedule_name
  group_name                   = "default"
  description                  = "s3-replicator verify --repair for ${var.name}: differences between sources and targets go to ${var.name}-events."
  schedule_expression          = var.reconcile_schedule
  schedule_expression_timezone = var.reconcile_schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = one(aws_ecs_cluster.this[*].arn)
    role_arn = aws_iam_role.scheduler[0].arn

    ecs_parameters {
      task_definition_arn = one(aws_ecs_task_definition.daemon[*].arn)
      launch_type         = "FARGATE"
      task_count          = 1
      network_configuration {
        subnets          = var.subnet_ids
        security_groups  = var.security_group_ids
        assign_public_ip = false
      }
    }

    # RunTask's overrides: the entrypoint is the binary, the task definition's command ["run"]
    # becomes the verify subcommand. Configuration, roles and logs are the daemon's. verify serves
    # no /healthz, so the container's health check reports it UNHEALTHY after a few minutes: ECS
    # stops unhealthy tasks of a service only, a standalone task runs to its end regardless.
    input = jsonencode({
      containerOverrides = [{ name = "s3-replicator", command = ["verify", "--repair"] }]
    })

    # A run that cannot start (capacity, a throttled RunTask) is retried for an hour; a run that
    # fails after starting is not (the next one covers the same ground).
    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 10
    }
  }

  lifecycle {
    precondition {
      condition     = var.create_ecs_task_definition
      error_message = "reconcile_schedule needs create_ecs_task_definition = true: the schedule runs the module's task definition in its cluster."
    }
  }
}

# --- What a run found -----------------------------------------------------------------------------

resource "aws_cloudwatch_log_metric_filter" "reconcile_differences" {
  count          = local.reconcile ? 1 : 0
  name           = "${var.name}-reconcile-differences"
  log_group_name = aws_cloudwatch_log_group.daemon.name
  # The line `verify --repair` logs at the end of a run (log.format = "json": the fields at the
  # top level of one object per line).
  pattern = "{ ($.message = \"Differences sent for repair.\") && ($.differences >= 0) }"

  metric_transformation {
    name      = local.reconcile_metric_name
    namespace = local.reconcile_metric_namespace
    value     = "$.differences"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "reconcile_differences" {
  count               = local.reconcile ? 1 : 0
  alarm_name          = local.alert_alarm_names.reconcile_differences
  alarm_description   = "The scheduled reconciliation (verify --repair) found source objects missing or different in a target and sent them to ${aws_sqs_queue.events.name} for the daemon to copy: events S3 did not deliver, or copies that were lost. See the runbook: 'Backfill a bucket, reconcile'."
  namespace           = local.reconcile_metric_namespace
  metric_name         = local.reconcile_metric_name
  statistic           = "Sum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
  depends_on          = [aws_cloudwatch_log_metric_filter.reconcile_differences]
}
