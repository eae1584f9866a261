variable "name" {
  type        = string
  description = "Cluster name, the prefix of every resource name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI of the hosts (Debian 12; user_data expects apt and cloud-init)."

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "topology_parameter_arn" {
  type        = string
  description = "ARN of the SSM parameter holding the rendered topology TOML."
}

variable "root_volume_gb" {
  type        = number
  description = "Size of each host's encrypted gp3 root volume in GiB."
  default     = 20

  validation {
    condition     = var.root_volume_gb >= 8
    error_message = "root_volume_gb must be at least 8 (Debian 12 AMIs need 8 GiB)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}

variable "bucket_prefix" {
  type        = string
  description = "Prefix of the three bucket names (<prefix>-media, -static, -private); bucket names are global, so include something unique such as the account ID."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,53}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 2-54 lowercase letters, digits, dots and dashes (S3 bucket name rules, room for the suffix)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (keep false in production)."
  default     = false
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for bucket encryption (SSE-KMS); empty for S3-managed keys (SSE-S3)."
  default     = ""

  validation {
    condition     = var.kms_key_arn == "" || startswith(var.kms_key_arn, "arn:")
    error_message = "kms_key_arn must be empty or a KMS key ARN."
  }
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before expiry (versioning undo window)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "s3_endpoint_id" {
  type        = string
  description = "ID of the VPC's S3 gateway endpoint: the media and static buckets admit anonymous reads only through it."
}

variable "media_instance_type" {
  type        = string
  description = "EC2 instance type of the nginx media host."

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.media_instance_type))
    error_message = "media_instance_type must look like t3.small."
  }
}

variable "media_subnet_id" {
  type        = string
  description = "Public subnet of the nginx media host (browsers fetch /media and /static from it)."
}

variable "media_security_group_id" {
  type        = string
  description = "Security group of the media role (from the network module)."
}

variable "media_user_data" {
  type        = string
  description = "cloud-init user_data script of the media host (node name from its TiersNode tag)."
}
