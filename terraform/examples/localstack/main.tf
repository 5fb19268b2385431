# The two modules applied against LocalStack (scripts/deploy-check.sh): the same wiring as
# examples/two-regions-two-accounts, with buckets created here, S3 notifications instead of
# EventBridge, and no ECS service (LocalStack's community edition has no ECS; the daemon runs on
# this machine with the environment the module renders for the task, output
# container_environment).

locals {
  source_bucket    = "${var.name}-source"
  analytics_bucket = "${var.name}-analytics"
  dr_bucket        = "${var.name}-dr"
  lag_objective    = 300
}

# --- Buckets ------------------------------------------------------------------------------------
# Throwaway buckets of an emulator, emptied by `terraform destroy` (force_destroy).

resource "aws_s3_bucket" "source" {
  #checkov:skip=CKV_AWS_21:emulator bucket, destroyed after the check; the check replicates unversioned objects
  #checkov:skip=CKV_AWS_18:emulator bucket, destroyed after the check; no access logs to keep
  #checkov:skip=CKV_AWS_144:the replicator is the replication under test
  #checkov:skip=CKV_AWS_145:emulator bucket; the modules' own KMS key is exercised, not bucket keys
  #checkov:skip=CKV2_AWS_61:emulator bucket, destroyed after the check; no lifecycle to manage
  #checkov:skip=CKV2_AWS_62:its notification is the replicator module's (source_notifications = "s3_notification")
  bucket        = local.source_bucket
  force_destroy = true
}

resource "aws_s3_bucket" "analytics" {
  #checkov:skip=CKV_AWS_21:emulator bucket, destroyed after the check; the check replicates unversioned objects
  #checkov:skip=CKV_AWS_18:emulator bucket, destroyed after the check; no access logs to keep
  #checkov:skip=CKV_AWS_144:it is a replica itself
  #checkov:skip=CKV_AWS_145:emulator bucket; the modules' own KMS key is exercised, not bucket keys
  #checkov:skip=CKV2_AWS_61:emulator bucket, destroyed after the check; no lifecycle to manage
  #checkov:skip=CKV2_AWS_62:a target: nothing consumes its events
  provider      = aws.analytics
  bucket        = local.analytics_bucket
  force_destroy = true
}

resource "aws_s3_bucket" "dr" {
  #checkov:skip=CKV_AWS_21:emulator bucket, destroyed after the check; the check replicates unversioned objects
  #checkov:skip=CKV_AWS_18:emulator bucket, destroyed after the check; no access logs to keep
  #checkov:skip=CKV_AWS_144:it is a replica itself
  #checkov:skip=CKV_AWS_145:emulator bucket; the modules' own KMS key is exercised, not bucket keys
  #checkov:skip=CKV2_AWS_61:emulator bucket, destroyed after the check; no lifecycle to manage
  #checkov:skip=CKV2_AWS_62:a target: nothing consumes its events
  provider      = aws.dr
  bucket        = local.dr_bucket
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "source" {
  bucket                  = aws_s3_bucket.source.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "analytics" {
  provider                = aws.analytics
  bucket                  = aws_s3_bucket.analytics.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "dr" {
  provider                = aws.dr
  bucket                  = aws_s3_bucket.dr.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# --- The daemon's configuration -----------------------------------------------------------------
# As in examples/two-regions-two-accounts/replicator.toml, plus [aws] endpoint_url: LocalStack.

locals {
  config_toml = <<-EOT
    # s3-replicator configuration for the LocalStack deployment check (scripts/deploy-check.sh).
    # The module sets the queue URL, both topic ARNs, the log format and the health/metrics
    # address through S3R_… variables.

    [aws]
    endpoint_url = "${var.endpoint}"

    [queue]
    concurrency = 16
    visibility_timeout_secs = 120

    [[targets]]
    name = "analytics-eu"
    bucket = "${aws_s3_bucket.analytics.bucket}"
    region = "eu-west-1"

    [[targets]]
    name = "dr-account"
    bucket = "${aws_s3_bucket.dr.bucket}"
    region = "us-west-2"
    role_arn = "${module.dr_account.writer_role_arn}"
    external_id = "${var.dr_external_id}"

    [[rules]]
    name = "all"
    source_bucket = "${aws_s3_bucket.source.bucket}"
    targets = ["analytics-eu", "dr-account"]
    lag_alert_secs = ${local.lag_objective}
  EOT
}

# --- The modules --------------------------------------------------------------------------------

module "replicator" {
  source = "../../modules/replicator"

  name                        = var.name
  source_buckets              = [aws_s3_bucket.source.bucket]
  source_notifications        = "s3_notification"
  same_account_target_buckets = [aws_s3_bucket.analytics.bucket]
  target_role_arns            = [module.dr_account.writer_role_arn]
  config_toml                 = local.config_toml
  environment = {
    RUST_LOG = "info,aws_config=warn,aws_smithy_runtime=warn"
  }

  # LocalStack's community edition has no ECS (nor Application Auto Scaling): the daemon runs on
  # this machine instead, with output container_environment.
  create_ecs_service         = false
  create_ecs_task_definition = false
  container_image            = "111111111111.dkr.ecr.us-east-1.amazonaws.com/s3-replicator:0.1.0"
  subnet_ids                 = ["subnet-0123456789abcdef0"]
  security_group_ids         = ["sg-0123456789abcdef0"]
  metrics_port               = var.metrics_port

  lag_objective_seconds = local.lag_objective
  tags                  = { service = "s3-replicator", deployment = "localstack-check" }
}

module "dr_account" {
  source    = "../../modules/target-account"
  providers = { aws = aws.dr }

  role_name                = "${var.name}-writer"
  replicator_task_role_arn = module.replicator.task_role_arn
  external_id              = var.dr_external_id
  target_buckets           = [aws_s3_bucket.dr.bucket]
  source_bucket_arns       = [aws_s3_bucket.source.arn]
  tags                     = { service = "s3-replicator", deployment = "localstack-check" }
}

# --- A downstream subscriber of the completion topic --------------------------------------------

resource "aws_sqs_queue" "completions" {
  name                    = "${var.name}-completions"
  sqs_managed_sse_enabled = true
}

data "aws_iam_policy_document" "completions" {
  statement {
    sid       = "CompletionTopic"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.completions.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [module.replicator.completion_topic_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "completions" {
  queue_url = aws_sqs_queue.completions.id
  policy    = data.aws_iam_policy_document.completions.json
}

resource "aws_sns_topic_subscription" "completions" {
  topic_arn            = module.replicator.completion_topic_arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.completions.arn
  raw_message_delivery = true
  depends_on           = [aws_sqs_queue_policy.completions]
}
