variable "name" {
  type        = string
  description = "Name of the IAM role and instance profile (e.g. \"tiers-prod-web\")."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters valid in an IAM role name."
  }
}

variable "secret_arn" {
  type        = string
  description = "ARN of the Secrets Manager secret holding the cluster's passwords and keys (used when read_secret is true)."
  default     = ""
}

variable "read_secret" {
  type        = bool
  default     = false
  description = "Whether the role may read the cluster secret (web, worker and database nodes only: lb, media, etcd and dbproxy configs hold no secret)."
}

variable "topology_parameter_arn" {
  type        = string
  description = "ARN of the SSM parameter holding the rendered topology TOML (read at boot)."
}

variable "policies" {
  type        = map(string)
  description = "Additional inline IAM policy documents (name => JSON), e.g. S3 access. Keys must be known at plan time."
  default     = {}
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the role and instance profile."
  default     = {}
}
