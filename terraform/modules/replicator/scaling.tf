# Autoscaling on the backlog (visible messages) and on the lag (age of the oldest message), and
# the alarms that page: the dead-letter queue is not empty, the oldest message is older than the
# lag objective.
#
# All of it exists only with the ECS service (create_ecs_service); the alarms for people below
# stay without it.
#
# Step scaling rather than target tracking: the queue metrics are totals, not per-task values,
# and one more task per breached minute is easy to reason about. Scale-in is slow (15 quiet
# minutes, one task at a time): a stopped task finishes its in-flight copies first (stopTimeout).

resource "aws_appautoscaling_target" "daemon" {
  count              = var.create_ecs_service ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this[0].name}/${aws_ecs_service.daemon[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
}

resource "aws_appautoscaling_policy" "scale_out" {
  count              = var.create_ecs_service ? 1 : 0
  name               = "${var.name}-scale-out"
  service_namespace  = aws_appautoscaling_target.daemon[0].service_namespace
  resource_id        = aws_appautoscaling_target.daemon[0].resource_id
  scalable_dimension = aws_appautoscaling_target.daemon[0].scalable_dimension
  policy_type        = "StepScaling"
  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 120
    metric_aggregation_type = "Maximum"
    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_appautoscaling_policy" "scale_in" {
  count              = var.create_ecs_service ? 1 : 0
  name               = "${var.name}-scale-in"
  service_namespace  = aws_appautoscaling_target.daemon[0].service_namespace
  resource_id        = aws_appautoscaling_target.daemon[0].resource_id
  scalable_dimension = aws_appautoscaling_target.daemon[0].scalable_dimension
  policy_type        = "StepScaling"
  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"
    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "backlog_high" {
  count               = var.create_ecs_service ? 1 : 0
  alarm_name          = "${var.name}-backlog-high"
  alarm_description   = "More than ${var.scale_out_backlog} visible messages: one more task."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = var.scale_out_backlog
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = [aws_appautoscaling_policy.scale_out[0].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lag_high_scale" {
  count               = var.create_ecs_service ? 1 : 0
  alarm_name          = "${var.name}-lag-scale-out"
  alarm_description   = "Oldest message older than half the lag objective: one more task."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = var.lag_objective_seconds / 2
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = [aws_appautoscaling_policy.scale_out[0].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_quiet" {
  count               = var.create_ecs_service ? 1 : 0
  alarm_name          = "${var.name}-queue-quiet"
  alarm_description   = "Fewer than 10 visible messages for 15 minutes: one task fewer (down to min_tasks)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 10
  comparison_operator = "LessThanThreshold"
  alarm_actions       = [aws_appautoscaling_policy.scale_in[0].arn]
  tags                = var.tags
}

# --- Alarms for people --------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = local.alert_alarm_names.dlq_not_empty
  alarm_description   = "Messages reached the dead-letter queue ${aws_sqs_queue.dlq.name}: objects that were not replicated. See the runbook: 'Redrive the dead-letter queue'."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lag_objective" {
  alarm_name          = local.alert_alarm_names.lag_objective
  alarm_description   = "The oldest event in ${aws_sqs_queue.events.name} waits longer than ${var.lag_objective_seconds} s: replication is behind its objective. See the runbook: 'Replication is behind'."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.lag_objective_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

# create_ecs_service (default true) gave the autoscaling resources a count: the state of a
# deployment made before keeps them.
moved {
  from = aws_appautoscaling_target.daemon
  to   = aws_appautoscaling_target.daemon[0]
}

moved {
  from = aws_appautoscaling_policy.scale_out
  to   = aws_appautoscaling_policy.scale_out[0]
}

moved {
  from = aws_appautoscaling_policy.scale_in
  to   = aws_appautoscaling_policy.scale_in[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.backlog_high
  to   = aws_cloudwatch_metric_alarm.backlog_high[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.lag_high_scale
  to   = aws_cloudwatch_metric_alarm.lag_high_scale[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.queue_quiet
  to   = aws_cloudwatch_metric_alarm.queue_quiet[0]
}
