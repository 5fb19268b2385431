# Plan-only assertions on the writer role's grants and the target buckets' object ownership
# (scripts/check-terraform.sh runs them with `terraform test`, providers from the local mirror,
# fake credentials, the caller identity overridden).

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

# --- The writer's optional grants follow replicate_deletes and copy_object_lock ----------------
# (asserted on the writer role's policy: the bucket policies take the same action list,
# local.writer_object_actions, but name the role by its ARN, which is unknown until apply)

run "optional_grants_are_off_by_default" {
  command = plan
  assert {
    condition = length(setintersection(
      toset(flatten([for s in jsondecode(data.aws_iam_policy_document.writer.json).Statement : s.Action])),
      toset(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:PutObjectLegalHold"]),
    )) == 0
    error_message = "the writer role holds a permission of a feature that is off"
  }
  assert {
    condition     = length(setintersection(toset(local.writer_object_actions), toset(["s3:DeleteObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"]))) == 0
    error_message = "the bucket policies grant a permission of a feature that is off"
  }
}

run "replicate_deletes_grants_delete_on_target_objects_only" {
  command = plan
  variables {
    replicate_deletes = true
  }
  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.writer.json).Statement : toset(flatten([s.Resource]))
      if contains(flatten([s.Action]), "s3:DeleteObject")
    ] == [toset(["arn:aws:s3:::dr-a/*", "arn:aws:s3:::dr-b/*"])]
    error_message = "s3:DeleteObject must be granted on the target buckets' objects and nowhere else"
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.writer.json, "s3:DeleteObjectVersion")
    error_message = "s3:DeleteObjectVersion must never be granted: a delete adds a delete marker"
  }
  assert {
    condition     = contains(local.writer_object_actions, "s3:DeleteObject")
    error_message = "the bucket policies must allow the writer's deletes too"
  }
}

run "copy_object_lock_grants_retention_and_legal_hold_on_target_objects_only" {
  command = plan
  variables {
    copy_object_lock = true
  }
  assert {
    condition = [
      for s in jsondecode(data.aws_iam_policy_document.writer.json).Statement : toset(flatten([s.Resource]))
      if contains(flatten([s.Action]), "s3:PutObjectRetention") && contains(flatten([s.Action]), "s3:PutObjectLegalHold")
    ] == [toset(["arn:aws:s3:::dr-a/*", "arn:aws:s3:::dr-b/*"])]
    error_message = "retention and legal hold must be writable on the target buckets' objects and nowhere else"
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.writer.json, "s3:DeleteObject")
    error_message = "copy_object_lock must not grant deletes"
  }
}

# --- Object ownership: BucketOwnerEnforced where the module writes the bucket policies ----------

run "ownership_is_enforced_where_bucket_policies_are_managed" {
  command = plan
  assert {
    condition = alltrue([
      for b in ["dr-a", "dr-b"] : aws_s3_bucket_ownership_controls.targets[b].rule[0].object_ownership == "BucketOwnerEnforced"
    ])
    error_message = "with manage_bucket_policies (the default) each target bucket must get BucketOwnerEnforced"
  }
}

run "ownership_is_left_alone_with_bucket_policies_managed_elsewhere" {
  command = plan
  variables {
    manage_bucket_policies = false
  }
  assert {
    condition     = length(aws_s3_bucket_ownership_controls.targets) == 0
    error_message = "a bucket whose policy is managed elsewhere must keep its ownership setting unless asked"
  }
}

run "ownership_can_be_managed_on_its_own" {
  command = plan
  variables {
    manage_bucket_policies           = false
    manage_bucket_ownership_controls = true
  }
  assert {
    condition     = length(aws_s3_bucket_ownership_controls.targets) == 2 && length(aws_s3_bucket_policy.targets) == 0
    error_message = "manage_bucket_ownership_controls = true must enforce ownership without writing the bucket policies"
  }
}

run "ownership_can_be_left_alone_with_managed_policies" {
  command = plan
  variables {
    manage_bucket_ownership_controls = false
  }
  assert {
    condition     = length(aws_s3_bucket_ownership_controls.targets) == 0 && length(aws_s3_bucket_policy.targets) == 2
    error_message = "manage_bucket_ownership_controls = false must leave the ownership setting alone"
  }
}
