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

variable "public_ports" {
  type        = map(list(number))
  description = "Ports each public role (registry `public = true`: lb, media) serves allowed_http_cidrs on, e.g. { lb = [80, 443], media = [80, 443] }: the topology's [lb] and [media] port and https_port."

  validation {
    condition     = alltrue([for p in flatten(values(var.public_ports)) : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "public_ports values must be lists of port numbers 1-65535."
  }
}

variable "roles" {
  type = map(object({
    exists_in    = list(string)
    instances_in = list(string)
    public       = bool
    reaches_s3   = bool
  }))
  description = "The registry's roles that get a security group (tiers_roles minus the object store, which S3 itself replaces), with the facts this module needs: the database modes the role exists in and runs on our EC2 hosts in (those get outbound 80/443), whether allowed_http_cidrs reach it, whether its hosts reach S3."

  validation {
    condition = alltrue([
      for r in values(var.roles) : alltrue([for m in concat(r.exists_in, r.instances_in) : contains(["patroni", "rds"], m)])
    ])
    error_message = "roles: exists_in and instances_in may only name the modes \"patroni\" and \"rds\"."
  }
  validation {
    condition     = alltrue([for r in values(var.roles) : alltrue([for m in r.instances_in : contains(r.exists_in, m)])])
    error_message = "roles: a role can run on instances only in modes it exists in (instances_in within exists_in)."
  }
}

variable "flows" {
  type = map(object({
    from  = string
    to    = string
    port  = number
    modes = list(string)
    why   = string
  }))
  description = "The registry's security-group table (tiers_flows without the rows to the object store): name => traffic from the `from` role's group to the `to` role's group on TCP `port`, in the database `modes` listed; `why` becomes the rules' description."

  validation {
    condition     = alltrue([for f in values(var.flows) : f.port >= 1 && f.port <= 65535 && floor(f.port) == f.port])
    error_message = "flows: every port must be a port number 1-65535."
  }
  validation {
    condition = alltrue([
      for f in values(var.flows) : length(f.modes) > 0 && alltrue([for m in f.modes : contains(["patroni", "rds"], m)])
    ])
    error_message = "flows: modes must be a non-empty list of \"patroni\" and \"rds\"."
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
