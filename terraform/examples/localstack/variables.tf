variable "endpoint" {
  description = "LocalStack's URL (every AWS service of the providers and the daemon's [aws] endpoint_url)."
  type        = string
  default     = "http://127.0.0.1:4566"
}

variable "metrics_port" {
  description = "The daemon's health and metrics port (the module's metrics_port): a free port on this machine."
  type        = number
  default     = 9090
}

variable "name" {
  description = "The replicator module's name, and the prefix of the buckets and the subscriber queue."
  type        = string
  default     = "s3r-ls"
}

variable "dr_external_id" {
  description = "The external ID of the DR writer role; the same value is the dr target's external_id."
  type        = string
  default     = "s3-replicator-dr"
}
