variable "name" {
  type        = string
  description = "Cluster name, the prefix of every resource name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "node_count" {
  type        = number
  description = "Number of memcached nodes (Django spreads keys over all of them; a lost node is only misses)."

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 40 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 40 (ElastiCache memcached limit)."
  }
}

variable "node_type" {
  type        = string
  description = "ElastiCache node type, e.g. cache.t4g.small."

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type must be an ElastiCache node type starting with \"cache.\"."
  }
}

variable "engine_version" {
  type        = string
  description = "memcached engine version."
  default     = "1.6.22"
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the cache nodes (two or more AZs spread nodes across zones)."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "security_group_id" {
  type        = string
  description = "Security group of the cache role (admits 11211 from web and worker nodes only)."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
