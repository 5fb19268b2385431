variable "dr_account_id" {
  description = "The disaster-recovery account."
  type        = string
  default     = "222222222222"
}

variable "dr_admin_role_name" {
  description = "A role in the DR account that terraform assumes to create the writer role and bucket policy."
  type        = string
  default     = "terraform"
}

variable "dr_external_id" {
  description = "The external ID the DR writer role requires; the same value is the dr-account target's external_id in replicator.toml."
  type        = string
  default     = "s3-replicator-dr"
}

variable "source_bucket" {
  description = "The data lake bucket (us-east-1, source account)."
  type        = string
  default     = "data-lake-curated"
}

variable "analytics_bucket" {
  description = "The analytics copy (eu-west-1, source account)."
  type        = string
  default     = "analytics-eu-west-1"
}

variable "dr_bucket" {
  description = "The disaster-recovery copy (us-west-2, DR account)."
  type        = string
  default     = "dr-copy"
}

variable "container_image" {
  description = "The s3-replicator image in ECR."
  type        = string
  default     = "111111111111.dkr.ecr.us-east-1.amazonaws.com/s3-replicator:0.1.0"
}

variable "subnet_ids" {
  description = "Private subnets with routes to the AWS APIs."
  type        = list(string)
  default     = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
}

variable "security_group_ids" {
  description = "Security groups: HTTPS out, metrics port in from Prometheus only."
  type        = list(string)
  default     = ["sg-0123456789abcdef0"]
}

variable "alert_emails" {
  description = "Who gets the alerts."
  type        = list(string)
  default     = ["data-platform-oncall@example.com"]
}
