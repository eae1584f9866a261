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

variable "role" {
  type        = string
  description = "The registry role these nodes run (web, queue or worker): names the nodes (<role>1..<role>N), their IAM role and their TiersRole tag."

  validation {
    condition     = contains(["web", "queue", "worker"], var.role)
    error_message = "role must be \"web\", \"queue\" or \"worker\" (the Django application roles)."
  }
}

variable "read_secret" {
  type        = bool
  description = "Whether the nodes may read the cluster secret (the registry lists secret fields for the role)."
}

variable "secret_arn" {
  type        = string
  description = "ARN of the Secrets Manager secret holding the cluster's passwords and keys."
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

variable "node_count" {
  type        = number
  description = "Number of nodes (<role>1..<role>N), spread over the private subnets; 0 is allowed (no workers). The root module requires at least one web node."

  validation {
    condition     = var.node_count >= 0 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number >= 0."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the nodes."

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.small."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets to place the nodes in (round-robin, one AZ after another)."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "security_group_id" {
  type        = string
  description = "Security group of the nodes' role (from the network module)."
}

variable "user_data" {
  type        = string
  description = "cloud-init user_data script of the role; each node learns its name from its TiersNode tag."
}

variable "bucket_arns" {
  type        = list(string)
  description = "ARNs of the buckets the nodes read and write (media, static, private)."

  validation {
    condition     = length(var.bucket_arns) >= 1 && alltrue([for a in var.bucket_arns : startswith(a, "arn:")])
    error_message = "bucket_arns must be a non-empty list of bucket ARNs."
  }
}
