# Plan-only assertions on the policies this module writes (scripts/check-terraform.sh runs them
# with `terraform test`, providers from the local mirror, no AWS account: credentials are fake
# and the caller identity is overridden).

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_data {
  target = data.aws_caller_identity.current
  values = {
    account_id = "111111111111"
    arn        = "arn:aws:iam::111111111111:user/test"
    id         = "111111111111"
    user_id    = "test"
  }
}

variables {
  name                 = "s3r"
  source_buckets       = ["lake-a", "lake-b"]
  source_notifications = "s3_notification"
  config_toml          = ""
  container_image      = "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/s3-replicator:1.2.3"
  subnet_ids           = ["subnet-1"]
  security_group_ids   = ["sg-1"]
}

run "kms_service_principals_carry_source_conditions" {
  command = plan

  assert {
    # Every AWS service principal in the key policy (except CloudWatch Logs, which is scoped by
    # its log-group encryption context) is bound to this account's resources.
    condition = alltrue([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      contains(keys(s.Principal), "AWS") || try(s.Principal.Service, "") == "logs.us-east-1.amazonaws.com" ||
      length(flatten([for op, kv in try(s.Condition, {}) : [for k, v in kv : k if contains(["aws:SourceArn", "kms:EncryptionContext:aws:sqs:arn"], k)]])) > 0
    ])
    error_message = "a service principal in the module key's policy lacks an aws:SourceArn (or queue encryption context) condition"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "s3.amazonaws.com"
    ][0], null) == ["arn:aws:s3:::lake-a", "arn:aws:s3:::lake-b"]
    error_message = "S3 may use the key only for the source buckets' notifications"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.StringEquals["aws:SourceAccount"] if try(s.Principal.Service, "") == "s3.amazonaws.com"
    ][0], null) == "111111111111"
    error_message = "S3 may use the key only for buckets of this account"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
      ][0], null) == [
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-dlq-not-empty",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-lag-objective",
    ]
    error_message = "CloudWatch may use the key only for the module's alarms"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.StringEquals["kms:EncryptionContext:aws:sns:topicArn"] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
    ][0], null) == "arn:aws:sns:us-east-1:111111111111:s3r-alerts"
    error_message = "CloudWatch may use the key only for the alerts topic"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "sns.amazonaws.com"
      ][0], null) == [
      "arn:aws:sns:us-east-1:111111111111:s3r-alerts",
      "arn:aws:sns:us-east-1:111111111111:s3r-completed",
    ]
    error_message = "SNS may use the key only when delivering from the module's topics"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.alerts_topic.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
      ][0], null) == [
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-dlq-not-empty",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-lag-objective",
    ]
    error_message = "only the module's alarms may publish to the alerts topic"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_name == "s3r-dlq-not-empty" && aws_cloudwatch_metric_alarm.lag_objective.alarm_name == "s3r-lag-objective"
    error_message = "the alarm names the key and topic policies are bound to differ from the alarms'"
  }

  assert {
    condition     = aws_sns_topic.alerts.name == "s3r-alerts" && aws_sns_topic.completion.name == "s3r-completed"
    error_message = "the topic names the key policy is bound to differ from the topics'"
  }
}

run "execution_role_pulls_only_the_configured_repository" {
  command = plan

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s.Resource if s.Sid == "PullImage"
    ][0], null) == "arn:aws:ecr:us-east-1:111111111111:repository/team/s3-replicator"
    error_message = "the execution role may pull from other repositories than the image's"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s.Resource if s.Sid == "EcrLogin"
    ][0], null) == "*"
    error_message = "ecr:GetAuthorizationToken takes no resource: it must stay \"*\""
  }
}

run "execution_role_pulls_from_image_digest_in_another_region_and_account" {
  command = plan
  variables {
    container_image = "222222222222.dkr.ecr.eu-west-1.amazonaws.com/s3-replicator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  }
  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s.Resource if s.Sid == "PullImage"
    ][0], null) == "arn:aws:ecr:eu-west-1:222222222222:repository/s3-replicator"
    error_message = "the repository ARN is not derived from a digest-pinned image in another account"
  }
}

run "execution_role_uses_the_given_repository_arn" {
  command = plan
  variables {
    container_image    = "registry.example.com/s3-replicator:1.2.3"
    ecr_repository_arn = "arn:aws:ecr:us-east-1:111111111111:repository/mirror/s3-replicator"
  }
  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s.Resource if s.Sid == "PullImage"
    ][0], null) == "arn:aws:ecr:us-east-1:111111111111:repository/mirror/s3-replicator"
    error_message = "ecr_repository_arn is not the only repository the execution role may pull from"
  }
}

run "image_outside_ecr_gets_no_ecr_permissions" {
  command = plan
  variables {
    container_image = "ghcr.io/example/s3-replicator:1.2.3"
  }
  assert {
    condition = length([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s if startswith(s.Sid, "Ecr") || s.Sid == "PullImage"
    ]) == 0
    error_message = "an image outside ECR still gets ECR permissions"
  }
}

run "malformed_ecr_image_is_rejected" {
  command = plan
  variables {
    container_image = "111111111111.dkr.ecr.us-east-1.amazonaws.com"
  }
  expect_failures = [var.container_image]
}

run "s3_notification_mode_writes_each_bucket_notification" {
  command = plan
  assert {
    condition     = length(aws_s3_bucket_notification.sources) == 2 && length(aws_cloudwatch_event_rule.sources) == 0
    error_message = "source_notifications = \"s3_notification\" must write each source bucket's notification configuration, and only that"
  }
}

run "none_mode_leaves_bucket_notifications_alone" {
  command = plan
  variables {
    source_notifications = "none"
  }
  assert {
    condition     = length(aws_s3_bucket_notification.sources) == 0 && length(aws_cloudwatch_event_rule.sources) == 0
    error_message = "source_notifications = \"none\" must not touch the buckets"
  }
}

run "eventbridge_mode_leaves_bucket_notifications_alone_and_routes_object_created" {
  command = plan
  variables {
    source_notifications = "eventbridge"
  }
  assert {
    condition     = length(aws_s3_bucket_notification.sources) == 0
    error_message = "source_notifications = \"eventbridge\" must not replace the buckets' notification configurations"
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.sources[0].event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail        = { bucket = { name = ["lake-a", "lake-b"] } }
    }
    error_message = "the EventBridge rule must match Object Created of the source buckets only"
  }
  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_queue.json).Statement :
      s.Condition.ArnEquals["aws:SourceArn"] if try(s.Principal.Service, "") == "events.amazonaws.com"
    ][0], null) == "arn:aws:events:us-east-1:111111111111:rule/s3r-source-objects"
    error_message = "only the module's rule may send to the queue"
  }
  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.StringEquals["kms:EncryptionContext:aws:sqs:arn"] if try(s.Principal.Service, "") == "events.amazonaws.com"
      ][0], null) == [
      "arn:aws:sqs:us-east-1:111111111111:s3r-events",
      "arn:aws:sqs:us-east-1:111111111111:s3r-events-dlq",
    ]
    error_message = "EventBridge may use the key only for the event queue and its dead-letter queue"
  }
}

run "manage_bucket_notifications_is_refused_with_its_replacement_named" {
  command = plan
  variables {
    manage_bucket_notifications = true
  }
  expect_failures = [var.manage_bucket_notifications]
}

# --- Optional features: event types and grants follow replicate_deletes, restore_archived_sources
# and copy_object_lock, and nothing of them is there while they are false ---------------------

run "optional_features_off_add_no_event_types_and_no_grants" {
  command = plan
  variables {
    same_account_target_buckets = ["copy-a"]
  }
  assert {
    condition = alltrue([
      for b in ["lake-a", "lake-b"] : aws_s3_bucket_notification.sources[b].queue[0].events == toset(["s3:ObjectCreated:*"])
    ])
    error_message = "without the optional features the buckets must notify s3:ObjectCreated:* only"
  }
  assert {
    condition = length(setintersection(
      toset(flatten([for s in jsondecode(data.aws_iam_policy_document.task_s3.json).Statement : s.Action])),
      toset([
        "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:RestoreObject",
        "s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectLegalHold",
      ]),
    )) == 0
    error_message = "the task role holds a permission of a feature that is off"
  }
}

run "replicate_deletes_notifies_removals_and_grants_delete_on_targets_only" {
  command = plan
  variables {
    same_account_target_buckets = ["copy-a"]
    replicate_deletes           = true
  }
  assert {
    condition = alltrue([
      for b in ["lake-a", "lake-b"] :
      aws_s3_bucket_notification.sources[b].queue[0].events == toset(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
    ])
    error_message = "with replicate_deletes the buckets must notify s3:ObjectRemoved:* too"
  }
  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.task_s3.json).Statement : s.Resource
      if contains(flatten([s.Action]), "s3:DeleteObject")
    ] == ["arn:aws:s3:::copy-a/*"]
    error_message = "s3:DeleteObject must be granted on the same-account targets' objects and nowhere else"
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.task_s3.json, "s3:DeleteObjectVersion")
    error_message = "s3:DeleteObjectVersion must never be granted: a delete adds a delete marker"
  }
}

run "restore_archived_sources_notifies_completed_restores_and_grants_restore_on_sources_only" {
  command = plan
  variables {
    same_account_target_buckets = ["copy-a"]
    restore_archived_sources    = true
  }
  assert {
    condition = alltrue([
      for b in ["lake-a", "lake-b"] :
      aws_s3_bucket_notification.sources[b].queue[0].events == toset(["s3:ObjectCreated:*", "s3:ObjectRestore:Completed"])
    ])
    error_message = "with restore_archived_sources the buckets must notify s3:ObjectRestore:Completed too"
  }
  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.task_s3.json).Statement : toset(flatten([s.Resource]))
      if contains(flatten([s.Action]), "s3:RestoreObject")
    ] == [toset(["arn:aws:s3:::lake-a/*", "arn:aws:s3:::lake-b/*"])]
    error_message = "s3:RestoreObject must be granted on the source buckets' objects and nowhere else"
  }
}

run "copy_object_lock_reads_lock_on_sources_and_writes_it_on_targets" {
  command = plan
  variables {
    same_account_target_buckets = ["copy-a"]
    copy_object_lock            = true
  }
  assert {
    condition = alltrue([
      for s in jsondecode(data.aws_iam_policy_document.task_s3.json).Statement :
      toset(flatten([s.Resource])) == toset(["arn:aws:s3:::lake-a/*", "arn:aws:s3:::lake-b/*"])
      if contains(flatten([s.Action]), "s3:GetObjectRetention") || contains(flatten([s.Action]), "s3:GetObjectLegalHold")
    ]) && strcontains(data.aws_iam_policy_document.task_s3.json, "s3:GetObjectLegalHold")
    error_message = "the source's retention and legal hold must be readable on the source buckets' objects only"
  }
  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.task_s3.json).Statement : s.Resource
      if contains(flatten([s.Action]), "s3:PutObjectRetention") && contains(flatten([s.Action]), "s3:PutObjectLegalHold")
    ] == ["arn:aws:s3:::copy-a/*"]
    error_message = "retention and legal hold must be writable on the same-account targets' objects only"
  }
  assert {
    condition     = aws_s3_bucket_notification.sources["lake-a"].queue[0].events == toset(["s3:ObjectCreated:*"])
    error_message = "copy_object_lock needs no event type of its own"
  }
}

run "eventbridge_rule_matches_the_optional_events_when_enabled" {
  command = plan
  variables {
    source_notifications     = "eventbridge"
    replicate_deletes        = true
    restore_archived_sources = true
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.sources[0].event_pattern)["detail-type"] == [
      "Object Created", "Object Deleted", "Object Restore Completed",
    ]
    error_message = "with replicate_deletes and restore_archived_sources the rule must match Object Deleted and Object Restore Completed too"
  }
  assert {
    condition     = output.source_notification_events == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectRestore:Completed"]
    error_message = "output source_notification_events must list the event types to add by hand"
  }
}

# --- Scheduled reconciliation (reconcile_schedule): nothing while unset; set, a schedule running
# `verify --repair`, its role bound to this schedule, the send permission, the metric and its alarm

run "reconcile_unset_creates_nothing" {
  command = plan
  assert {
    condition = (
      length(aws_scheduler_schedule.reconcile) == 0 && length(aws_iam_role.scheduler) == 0 &&
      length(aws_iam_role_policy.scheduler) == 0 &&
      length(aws_cloudwatch_log_metric_filter.reconcile_differences) == 0 &&
      length(aws_cloudwatch_metric_alarm.reconcile_differences) == 0 &&
      length(data.aws_iam_policy_document.task_reconcile) == 0
    )
    error_message = "without reconcile_schedule nothing of the reconciliation may exist"
  }
}

run "reconcile_schedule_runs_verify_repair_and_alarms_on_differences" {
  command = plan
  variables {
    reconcile_schedule = "rate(1 day)"
  }

  assert {
    condition = (
      length(aws_scheduler_schedule.reconcile) == 1 && length(aws_iam_role.scheduler) == 1 &&
      length(aws_iam_role_policy.scheduler) == 1 &&
      length(aws_cloudwatch_log_metric_filter.reconcile_differences) == 1 &&
      length(aws_cloudwatch_metric_alarm.reconcile_differences) == 1
    )
    error_message = "reconcile_schedule must create the schedule, its role, the metric filter and the alarm"
  }

  assert {
    condition = (
      aws_scheduler_schedule.reconcile[0].name == "s3r-reconcile" &&
      aws_scheduler_schedule.reconcile[0].group_name == "default" &&
      aws_scheduler_schedule.reconcile[0].schedule_expression == "rate(1 day)"
    )
    error_message = "the schedule's name, group or expression differ from what its role is bound to"
  }

  assert {
    condition = jsondecode(aws_scheduler_schedule.reconcile[0].target[0].input) == {
      containerOverrides = [{ name = "s3-replicator", command = ["verify", "--repair"] }]
    }
    error_message = "the scheduled task must run the daemon's container with the command verify --repair"
  }

  assert {
    condition = (
      aws_scheduler_schedule.reconcile[0].target[0].ecs_parameters[0].launch_type == "FARGATE" &&
      aws_scheduler_schedule.reconcile[0].target[0].ecs_parameters[0].task_count == 1 &&
      aws_scheduler_schedule.reconcile[0].target[0].ecs_parameters[0].network_configuration[0].subnets == toset(["subnet-1"]) &&
      aws_scheduler_schedule.reconcile[0].target[0].ecs_parameters[0].network_configuration[0].security_groups == toset(["sg-1"]) &&
      aws_scheduler_schedule.reconcile[0].target[0].ecs_parameters[0].network_configuration[0].assign_public_ip == false
    )
    error_message = "the scheduled task must run once on Fargate in the service's subnets and security groups, without a public IP"
  }

  assert {
    condition = (
      one(jsondecode(data.aws_iam_policy_document.scheduler_assume[0].json).Statement).Principal.Service == "scheduler.amazonaws.com" &&
      one(jsondecode(data.aws_iam_policy_document.scheduler_assume[0].json).Statement).Condition.StringEquals["aws:SourceAccount"] == "111111111111" &&
      one(jsondecode(data.aws_iam_policy_document.scheduler_assume[0].json).Statement).Condition.ArnEquals["aws:SourceArn"] == "arn:aws:scheduler:us-east-1:111111111111:schedule/default/s3r-reconcile"
    )
    error_message = "only the module's schedule, in this account, may assume the scheduler role"
  }

  assert {
    condition = {
      for s in jsondecode(data.aws_iam_policy_document.scheduler[0].json).Statement : s.Sid => [s.Action, s.Resource]
      } == {
      RunReconcileTask = ["ecs:RunTask", "arn:aws:ecs:us-east-1:111111111111:task-definition/s3r:*"]
      PassTaskRoles = ["iam:PassRole", [
        "arn:aws:iam::111111111111:role/s3r-task", "arn:aws:iam::111111111111:role/s3r-execution",
      ]]
    }
    error_message = "the scheduler role may run the module's task definition and pass its two roles, nothing else"
  }

  assert {
    condition = (
      [for s in jsondecode(data.aws_iam_policy_document.scheduler[0].json).Statement : s.Condition.ArnEquals["ecs:cluster"] if s.Sid == "RunReconcileTask"] == ["arn:aws:ecs:us-east-1:111111111111:cluster/s3r"] &&
      [for s in jsondecode(data.aws_iam_policy_document.scheduler[0].json).Statement : s.Condition.StringEquals["iam:PassedToService"] if s.Sid == "PassTaskRoles"] == ["ecs-tasks.amazonaws.com"]
    )
    error_message = "the scheduler role may run tasks in the module's cluster only, and pass the roles to ECS tasks only"
  }

  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.task_reconcile[0].json).Statement : [s.Action, s.Resource]
    ] == [["sqs:SendMessage", "arn:aws:sqs:us-east-1:111111111111:s3r-events"]]
    error_message = "verify --repair needs sqs:SendMessage on the event queue, and no more"
  }

  assert {
    condition = (
      aws_cloudwatch_log_metric_filter.reconcile_differences[0].log_group_name == "/ecs/s3r" &&
      aws_cloudwatch_log_metric_filter.reconcile_differences[0].pattern == "{ ($.message = \"Differences sent for repair.\") && ($.differences >= 0) }" &&
      aws_cloudwatch_log_metric_filter.reconcile_differences[0].metric_transformation[0].value == "$.differences" &&
      aws_cloudwatch_log_metric_filter.reconcile_differences[0].metric_transformation[0].name == "ReconcileDifferences" &&
      aws_cloudwatch_log_metric_filter.reconcile_differences[0].metric_transformation[0].namespace == "s3-replicator/s3r"
    )
    error_message = "the metric filter must count the differences of verify --repair's JSON log line"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.reconcile_differences[0].alarm_name == "s3r-reconcile-differences" &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].metric_name == "ReconcileDifferences" &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].namespace == "s3-replicator/s3r" &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].period == 86400 &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].threshold == 0 &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.reconcile_differences[0].treat_missing_data == "notBreaching"
    )
    error_message = "the alarm must fire when a day's runs found any difference, and stay quiet without runs"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.alerts_topic.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
      ][0], null) == [
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-dlq-not-empty",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-lag-objective",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-reconcile-differences",
    ]
    error_message = "the reconcile-differences alarm must be allowed to publish to the alerts topic"
  }

  assert {
    condition = try([
      for s in jsondecode(data.aws_iam_policy_document.events_key.json).Statement :
      s.Condition.ArnLike["aws:SourceArn"] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
      ][0], null) == [
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-dlq-not-empty",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-lag-objective",
      "arn:aws:cloudwatch:us-east-1:111111111111:alarm:s3r-reconcile-differences",
    ]
    error_message = "the reconcile-differences alarm must be allowed to use the key of the encrypted alerts topic"
  }
}

run "reconcile_schedule_without_task_definition_is_refused" {
  command = plan
  variables {
    reconcile_schedule         = "cron(0 3 * * ? *)"
    create_ecs_task_definition = false
    create_ecs_service         = false
  }
  expect_failures = [aws_scheduler_schedule.reconcile]
}

run "reconcile_schedule_must_be_a_recurring_expression" {
  command = plan
  variables {
    reconcile_schedule = "daily"
  }
  expect_failures = [var.reconcile_schedule]
}

# --- container_secrets: the container's "secrets" (credentials of targets outside AWS), read by
# the execution role on exactly those ARNs; nothing of them without ------------------------------
#
# The container definition holds the queue URL and the topic ARNs, unknown until apply: these runs
# give them values during the plan (override_during, terraform 1.11 or later), so that the whole
# definition can be decoded.

run "container_secrets_reach_the_container_and_the_execution_role_reads_exactly_them" {
  command = plan
  variables {
    container_secrets = {
      R2_ACCESS_KEY_ID     = "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2-AbCdEf:access_key_id::"
      R2_SECRET_ACCESS_KEY = "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2-AbCdEf:secret_access_key::"
      MINIO_SECRET_KEY     = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:team/minio-Xy12Zw"
      MINIO_ACCESS_KEY     = "arn:aws:ssm:us-east-1:111111111111:parameter/s3r/minio/access-key"
    }
    container_secrets_kms_key_arns = ["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }
  override_resource {
    target          = aws_sqs_queue.events
    override_during = plan
    values          = { url = "https://sqs.us-east-1.amazonaws.com/111111111111/s3r-events" }
  }
  override_resource {
    target          = aws_sns_topic.completion
    override_during = plan
    values          = { arn = "arn:aws:sns:us-east-1:111111111111:s3r-completed" }
  }
  override_resource {
    target          = aws_sns_topic.alerts
    override_during = plan
    values          = { arn = "arn:aws:sns:us-east-1:111111111111:s3r-alerts" }
  }

  assert {
    condition = try(jsondecode(aws_ecs_task_definition.daemon[0].container_definitions)[0].secrets, null) == [
      { name = "MINIO_ACCESS_KEY", valueFrom = "arn:aws:ssm:us-east-1:111111111111:parameter/s3r/minio/access-key" },
      { name = "MINIO_SECRET_KEY", valueFrom = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:team/minio-Xy12Zw" },
      { name = "R2_ACCESS_KEY_ID", valueFrom = "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2-AbCdEf:access_key_id::" },
      { name = "R2_SECRET_ACCESS_KEY", valueFrom = "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2-AbCdEf:secret_access_key::" },
    ]
    error_message = "the container's secrets must be container_secrets, name => valueFrom, as given"
  }

  assert {
    condition = length(setintersection(
      [for e in jsondecode(aws_ecs_task_definition.daemon[0].container_definitions)[0].environment : e.name],
      ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"],
      )) == 0 && length(setintersection(
      keys(output.container_environment),
      ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"],
    )) == 0
    error_message = "a secret's variable must not be in the container's plain environment nor in output container_environment"
  }

  assert {
    # GetSecretValue on each secret's own ARN (the JSON-key suffix stripped, the two keys of r2 one
    # secret), GetParameters on the parameter, kms:Decrypt on the key only through those services
    # in those regions; nothing else added to the execution role.
    condition = {
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement :
      s.Sid => [toset(flatten([s.Action])), toset(flatten([s.Resource])), try(s.Condition, null)]
      if !contains(["EcrLogin", "PullImage", "WriteLogs"], s.Sid)
      } == {
      ReadContainerSecrets = [
        toset(["secretsmanager:GetSecretValue"]),
        toset([
          "arn:aws:secretsmanager:eu-west-1:222222222222:secret:team/minio-Xy12Zw",
          "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2-AbCdEf",
        ]),
        null,
      ]
      ReadContainerParameters = [
        toset(["ssm:GetParameters"]),
        toset(["arn:aws:ssm:us-east-1:111111111111:parameter/s3r/minio/access-key"]),
        null,
      ]
      DecryptContainerSecrets = [
        toset(["kms:Decrypt"]),
        toset(["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"]),
        {
          StringEquals = {
            "kms:ViaService" = [
              "secretsmanager.eu-west-1.amazonaws.com",
              "secretsmanager.us-east-1.amazonaws.com",
              "ssm.us-east-1.amazonaws.com",
            ]
          }
        },
      ]
    }
    error_message = "the execution role must read exactly the secrets (by their own ARN) and parameters of container_secrets, and decrypt with container_secrets_kms_key_arns only through Secrets Manager and SSM"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement :
      !anytrue([for r in flatten([s.Resource]) : strcontains(r, "*")]) if s.Sid != "EcrLogin" && s.Sid != "WriteLogs"
    ])
    error_message = "the execution role's secret, parameter and key statements must name their resources without wildcards"
  }
}

run "without_container_secrets_nothing_of_them_exists" {
  command = plan
  override_resource {
    target          = aws_sqs_queue.events
    override_during = plan
    values          = { url = "https://sqs.us-east-1.amazonaws.com/111111111111/s3r-events" }
  }
  override_resource {
    target          = aws_sns_topic.completion
    override_during = plan
    values          = { arn = "arn:aws:sns:us-east-1:111111111111:s3r-completed" }
  }
  override_resource {
    target          = aws_sns_topic.alerts
    override_during = plan
    values          = { arn = "arn:aws:sns:us-east-1:111111111111:s3r-alerts" }
  }

  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.daemon[0].container_definitions)[0]), "secrets")
    error_message = "without container_secrets the container definition must have no secrets (and stay as it was)"
  }

  assert {
    condition = (
      [for s in jsondecode(data.aws_iam_policy_document.execution.json).Statement : s.Sid] == ["EcrLogin", "PullImage", "WriteLogs"] &&
      !strcontains(data.aws_iam_policy_document.execution.json, "secretsmanager:") &&
      !strcontains(data.aws_iam_policy_document.execution.json, "ssm:") &&
      !strcontains(data.aws_iam_policy_document.execution.json, "kms:")
    )
    error_message = "without container_secrets the execution role may only pull the image and write logs"
  }

  assert {
    # container_secrets' validation refuses exactly these names: the module's own variables.
    condition = toset(keys(local.container_environment)) == toset([
      "S3R_CONFIG_TOML", "S3R_QUEUE__URL", "S3R_COMPLETION__TOPIC_ARN", "S3R_ALERTS__TOPIC_ARN",
      "S3R_LOG__FORMAT", "S3R_SERVER__LISTEN", "AWS_REGION",
    ])
    error_message = "the module sets other environment variables than container_secrets' validation refuses: update that list in variables.tf (and this one)"
  }
}

run "container_secrets_refuses_an_incomplete_secret_arn" {
  command = plan
  variables {
    # Without the six characters Secrets Manager appends to the name: IAM would need a wildcard.
    container_secrets = { R2_ACCESS_KEY_ID = "arn:aws:secretsmanager:us-east-1:111111111111:secret:r2" }
  }
  expect_failures = [var.container_secrets]
}

run "container_secrets_refuses_what_is_neither_a_secret_nor_a_parameter" {
  command = plan
  variables {
    container_secrets = { R2_ACCESS_KEY_ID = "arn:aws:s3:::lake-a/r2-key" }
  }
  expect_failures = [var.container_secrets]
}

run "container_secrets_refuses_a_name_the_module_sets" {
  command = plan
  variables {
    container_secrets = { S3R_QUEUE__URL = "arn:aws:ssm:us-east-1:111111111111:parameter/s3r/queue" }
  }
  expect_failures = [var.container_secrets]
}

run "container_secrets_refuses_a_name_that_is_no_environment_variable" {
  command = plan
  variables {
    container_secrets = { "R2-ACCESS-KEY" = "arn:aws:ssm:us-east-1:111111111111:parameter/r2/access-key" }
  }
  expect_failures = [var.container_secrets]
}

run "container_secrets_and_environment_must_not_share_a_name" {
  command = plan
  variables {
    environment       = { R2_ACCESS_KEY_ID = "plain" }
    container_secrets = { R2_ACCESS_KEY_ID = "arn:aws:ssm:us-east-1:111111111111:parameter/r2/access-key" }
  }
  expect_failures = [aws_ecs_task_definition.daemon]
}

run "container_secrets_kms_key_arns_refuses_an_alias" {
  command = plan
  variables {
    container_secrets              = { R2_ACCESS_KEY_ID = "arn:aws:ssm:us-east-1:111111111111:parameter/r2/access-key" }
    container_secrets_kms_key_arns = ["arn:aws:kms:us-east-1:111111111111:alias/r2"]
  }
  expect_failures = [var.container_secrets_kms_key_arns]
}

run "container_secrets_without_task_definition_is_refused" {
  command = plan
  variables {
    container_secrets          = { R2_ACCESS_KEY_ID = "arn:aws:ssm:us-east-1:111111111111:parameter/r2/access-key" }
    create_ecs_task_definition = false
    create_ecs_service         = false
  }
  expect_failures = [aws_iam_role_policy.execution]
}

run "container_secrets_kms_key_arns_without_container_secrets_is_refused" {
  command = plan
  variables {
    container_secrets_kms_key_arns = ["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }
  expect_failures = [aws_iam_role_policy.execution]
}
