variable "name" {
  type        = string
  description = "Prefix of every resource name (the cluster name, e.g. \"tiers-prod\")."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC (/16 or /17); public and private /20 subnets are carved out of it."

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && contains(["16", "17"], try(split("/", var.vpc_cidr)[1], ""))
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /16 or /17 (e.g. 10.40.0.0/16)."
  }
}

variable "az_count" {
  type        = number
  description = "How many availability zones to spread subnets over (RDS and ElastiCache need at least 2)."

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 4."
  }
}

variable "allowed_http_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the load balancer and the media host on port 80."

  validation {
    condition     = length(var.allowed_http_cidrs) > 0 && alltrue([for c in var.allowed_http_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_http_cidrs must be a non-empty list of valid CIDRs (e.g. [\"0.0.0.0/0\"])."
  }
}

variable "lb_port" {
  type        = number
  description = "Port HAProxy serves the site on (the topology's [lb] port)."

  validation {
    condition     = var.lb_port >= 1 && var.lb_port <= 65535
    error_message = "lb_port must be a port number 1-65535."
  }
}

variable "media_port" {
  type        = number
  description = "Port the nginx media host serves /media and /static on (the topology's [media] port)."

  validation {
    condition     = var.media_port >= 1 && var.media_port <= 65535
    error_message = "media_port must be a port number 1-65535."
  }
}

variable "database_mode" {
  type        = string
  description = "\"rds\" (managed PostgreSQL with read replicas) or \"patroni\" (EC2 Patroni nodes, etcd and dbproxy); selects the database-tier flows."

  validation {
    condition     = contains(["rds", "patroni"], var.database_mode)
    error_message = "database_mode must be \"rds\" or \"patroni\"."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
