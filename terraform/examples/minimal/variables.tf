variable "region" {
  type        = string
  description = "AWS region to create the example cluster in."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "bucket_prefix" {
  type        = string
  description = "Globally unique prefix of the example's buckets, e.g. \"tiers-demo-123456789012\"."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,53}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 2-54 lowercase letters, digits, dots and dashes."
  }
}

variable "release_repo" {
  type        = string
  description = "HTTPS git URL of the Tiers repository the hosts install from."

  validation {
    condition     = startswith(var.release_repo, "https://")
    error_message = "release_repo must be an https:// git URL."
  }
}

variable "database_mode" {
  type        = string
  description = "\"patroni\" (default here: publishes a topology, so `make deploy` can drive it) or \"rds\"."
  default     = "patroni"

  validation {
    condition     = contains(["rds", "patroni"], var.database_mode)
    error_message = "database_mode must be \"rds\" or \"patroni\"."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI of every host; empty picks the newest official Debian 12 image."
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or look like ami-0123456789abcdef0."
  }
}
