# Plan-only assertions (scripts/check-terraform.sh runs them with `terraform test`, providers from
# the local mirror, fake credentials, the caller identity overridden).

provider "aws" {
  region                      = "us-west-2"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_data {
  target = data.aws_caller_identity.current
  values = {
    account_id = "222222222222"
    arn        = "arn:aws:iam::222222222222:user/test"
    id         = "222222222222"
    user_id    = "test"
  }
}

variables {
  replicator_task_role_arn = "arn:aws:iam::111111111111:role/s3r-task"
  external_id              = "s3r-dr"
  target_buckets           = ["dr-a", "dr-b"]
  source_bucket_arns       = ["arn:aws:s3:::lake-a"]
}

run "lifecycle_rules_are_left_alone_by_default" {
  command = plan
  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.targets) == 0
    error_message = "the module must not replace target buckets' lifecycle rules unless asked to"
  }
  assert {
    condition     = jsondecode(output.lifecycle_rule_json).Rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation == 7
    error_message = "the rule to merge into a bucket's lifecycle configuration must abort incomplete uploads after 7 days"
  }
}

run "managed_lifecycle_aborts_incomplete_multipart_uploads" {
  command = plan
  variables {
    manage_lifecycle_rules                 = true
    abort_incomplete_multipart_upload_days = 3
  }
  assert {
    condition = alltrue([
      for b in ["dr-a", "dr-b"] :
      aws_s3_bucket_lifecycle_configuration.targets[b].rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 3 &&
      aws_s3_bucket_lifecycle_configuration.targets[b].rule[0].status == "Enabled"
    ])
    error_message = "each target bucket must get an enabled rule aborting incomplete multipart uploads after the configured days"
  }
}

run "abort_days_must_be_positive" {
  command = plan
  variables {
    abort_incomplete_multipart_upload_days = 0
  }
  expect_failures = [var.abort_incomplete_multipart_upload_days]
}
