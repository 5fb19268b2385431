# Two regions, two accounts:
#   source account, us-east-1   the data lake bucket, the queue, the topics, the ECS service
#   source account, eu-west-1   an analytics copy, written with the task role itself
#   DR account,     us-west-2   a disaster-recovery copy, written by an assumed role (external ID)
#
# The buckets exist already; this example wires s3-replicator to them. replicator.toml is the
# daemon's configuration (targets and rules); scripts/check-terraform.sh renders the container
# environment this example produces and runs `s3-replicator check-config` on it.

provider "aws" {
  region = "us-east-1"
}

# The DR account, reached with a role that may create IAM roles and bucket policies there.
provider "aws" {
  alias  = "dr"
  region = "us-west-2"
  assume_role {
    role_arn = "arn:aws:iam::${var.dr_account_id}:role/${var.dr_admin_role_name}"
  }
}

module "replicator" {
  source = "../../modules/replicator"

  name           = "s3-replicator"
  source_buckets = [var.source_bucket]
  # The data lake bucket already notifies other consumers: an EventBridge rule leaves its
  # notification configuration alone ("s3_notification" would replace it whole).
  source_notifications        = "eventbridge"
  same_account_target_buckets = [var.analytics_bucket]
  target_role_arns            = [module.dr_account.writer_role_arn]
  config_toml                 = file("${path.module}/replicator.toml")
  environment = {
    RUST_LOG = "info,aws_config=warn,aws_smithy_runtime=warn"
  }

  container_image    = var.container_image
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  alert_emails       = var.alert_emails

  min_tasks = 1
  max_tasks = 8
  # The lag alarm's threshold; every rule's lag_alert_secs in replicator.toml is the same value,
  # so that the queue alarm and the daemon's replication_late alert mean the same lateness.
  lag_objective_seconds = 300
  # No rule replicates deletes or restores archived sources, and no target copies Object Lock:
  # replicate_deletes, restore_archived_sources and copy_object_lock stay false (their defaults)
  # here and in module "dr_account". scripts/render_task_env.py checks that they agree with
  # replicator.toml.
  tags = { service = "s3-replicator" }
}

module "dr_account" {
  source    = "../../modules/target-account"
  providers = { aws = aws.dr }

  role_name                = "s3-replicator-writer"
  replicator_task_role_arn = module.replicator.task_role_arn
  external_id              = var.dr_external_id
  target_buckets           = [var.dr_bucket]
  source_bucket_arns       = ["arn:aws:s3:::${var.source_bucket}"]
  tags                     = { service = "s3-replicator" }
}
