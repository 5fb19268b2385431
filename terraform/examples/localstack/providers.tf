# Three regions of one LocalStack, as the two-regions-two-accounts example has them: the source
# account in us-east-1 (source bucket, queue, topics, roles) and eu-west-1 (a same-account
# target), and the "DR account" in us-west-2. LocalStack derives the account from the access key,
# so with the access key "test" both accounts are 000000000000: the DR target is still written by
# the assumed writer role (sts:AssumeRole with the external ID), as on AWS.
#
# Every service the modules use is pointed at LocalStack; nothing reaches AWS.

locals {
  localstack_provider = {
    access_key = "test"
    secret_key = "test"
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = local.localstack_provider.access_key
  secret_key                  = local.localstack_provider.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    applicationautoscaling = var.endpoint
    cloudwatch             = var.endpoint
    ecs                    = var.endpoint
    events                 = var.endpoint
    iam                    = var.endpoint
    kms                    = var.endpoint
    logs                   = var.endpoint
    s3                     = var.endpoint
    sns                    = var.endpoint
    sqs                    = var.endpoint
    sts                    = var.endpoint
  }
}

provider "aws" {
  alias                       = "analytics"
  region                      = "eu-west-1"
  access_key                  = local.localstack_provider.access_key
  secret_key                  = local.localstack_provider.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    applicationautoscaling = var.endpoint
    cloudwatch             = var.endpoint
    ecs                    = var.endpoint
    events                 = var.endpoint
    iam                    = var.endpoint
    kms                    = var.endpoint
    logs                   = var.endpoint
    s3                     = var.endpoint
    sns                    = var.endpoint
    sqs                    = var.endpoint
    sts                    = var.endpoint
  }
}

provider "aws" {
  alias                       = "dr"
  region                      = "us-west-2"
  access_key                  = local.localstack_provider.access_key
  secret_key                  = local.localstack_provider.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    applicationautoscaling = var.endpoint
    cloudwatch             = var.endpoint
    ecs                    = var.endpoint
    events                 = var.endpoint
    iam                    = var.endpoint
    kms                    = var.endpoint
    logs                   = var.endpoint
    s3                     = var.endpoint
    sns                    = var.endpoint
    sqs                    = var.endpoint
    sts                    = var.endpoint
  }
}
