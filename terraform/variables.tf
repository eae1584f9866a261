# --- cluster ---------------------------------------------------------------------------------------------

variable "name" {
  type        = string
  description = "Cluster name: the topology's [cluster] name and the prefix of every AWS resource name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (on top of Project = tiers and Cluster = <name>)."
  default     = {}
}

variable "release_repo" {
  type        = string
  description = "Git URL hosts clone the Tiers release from at boot (HTTPS, reachable through the NAT)."

  validation {
    condition     = startswith(var.release_repo, "https://")
    error_message = "release_repo must be an https:// git URL."
  }
}

variable "release_ref" {
  type        = string
  description = "Git branch, tag or commit hosts check out at first boot (later releases go through `make deploy`)."
  default     = "main"

  validation {
    condition     = length(var.release_ref) > 0
    error_message = "release_ref must not be empty."
  }
}

# --- network ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC (/16 or /17)."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && contains(["16", "17"], try(split("/", var.vpc_cidr)[1], ""))
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /16 or /17 (e.g. 10.40.0.0/16)."
  }
}

variable "az_count" {
  type        = number
  description = "Availability zones to spread the cluster over (2-4)."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 4."
  }
}

variable "allowed_http_cidrs" {
  type        = list(string)
  description = "Client CIDRs allowed to reach the site (lb) and the media host on port 80."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_http_cidrs) > 0 && alltrue([for c in var.allowed_http_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_http_cidrs must be a non-empty list of valid CIDRs."
  }
}

variable "site_domain" {
  type        = string
  description = "DNS name of the site (point an A record at the output lb_public_ip); empty uses the lb's Elastic IP. It becomes the topology's [lb] public_host: Django's ALLOWED_HOSTS, the TLS certificate's name and the health checks' Host."
  default     = ""

  validation {
    condition     = var.site_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.site_domain))
    error_message = "site_domain must be empty or a lowercase DNS name such as shop.example.com (no scheme, no port)."
  }
}

variable "media_domain" {
  type        = string
  description = "DNS name of the media host (an A record at the output media_public_ip); empty uses its Elastic IP. It becomes the topology's [media] public_url (https://<it>): the MEDIA_URL and STATIC_URL browsers fetch."
  default     = ""

  validation {
    condition     = var.media_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.media_domain))
    error_message = "media_domain must be empty or a lowercase DNS name such as media.example.com (no scheme, no port)."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI for every EC2 host; empty picks the newest official Debian 12 amd64 image."
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or look like ami-0123456789abcdef0."
  }
}

# --- lb, web, worker, media --------------------------------------------------------------------------------------

variable "lb_instance_type" {
  type        = string
  description = "EC2 instance type of the HAProxy load balancer host."
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.lb_instance_type))
    error_message = "lb_instance_type must look like t3.small."
  }
}

variable "web_count" {
  type        = number
  description = "Number of web nodes (web1..webN)."
  default     = 2

  validation {
    condition     = var.web_count >= 1 && floor(var.web_count) == var.web_count
    error_message = "web_count must be a whole number >= 1."
  }
}

variable "web_instance_type" {
  type        = string
  description = "EC2 instance type of the web nodes."
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.web_instance_type))
    error_message = "web_instance_type must look like t3.small."
  }
}

variable "web_processes" {
  type        = number
  description = "uWSGI processes per web node (the topology's [web] processes); about one per vCPU."
  default     = 2

  validation {
    condition     = var.web_processes >= 1 && floor(var.web_processes) == var.web_processes
    error_message = "web_processes must be a whole number >= 1."
  }
}

variable "worker_count" {
  type        = number
  description = "Number of background-task worker nodes (worker1..workerN) in the private subnets; 0 runs no worker."
  default     = 1

  validation {
    condition     = var.worker_count >= 0 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number >= 0."
  }
}

variable "worker_instance_type" {
  type        = string
  description = "EC2 instance type of the worker nodes."
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.worker_instance_type))
    error_message = "worker_instance_type must look like t3.small."
  }
}

variable "queue_count" {
  type        = number
  description = "Number of waiting-room nodes (queue1..queueN, docs/ONSALE.md) in the private subnets; 0 sends the queue URLs to the web nodes."
  default     = 1

  validation {
    condition     = var.queue_count >= 0 && floor(var.queue_count) == var.queue_count
    error_message = "queue_count must be a whole number >= 0."
  }
}

variable "queue_instance_type" {
  type        = string
  description = "EC2 instance type of the waiting-room nodes (cheap polls: small is enough)."
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.queue_instance_type))
    error_message = "queue_instance_type must look like t3.small."
  }
}

variable "media_instance_type" {
  type        = string
  description = "EC2 instance type of the nginx media host."
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.media_instance_type))
    error_message = "media_instance_type must look like t3.small."
  }
}

# --- database --------------------------------------------------------------------------------------------

variable "database_mode" {
  type        = string
  description = "\"rds\" (default: RDS PostgreSQL, Multi-AZ writer plus read replicas, managed failover) or \"patroni\" (EC2 Patroni nodes, etcd and dbproxy: the local cluster's shape)."
  default     = "rds"

  validation {
    condition     = contains(["rds", "patroni"], var.database_mode)
    error_message = "database_mode must be \"rds\" or \"patroni\"."
  }
}

variable "database" {
  type = object({
    name                    = optional(string, "tiers")
    user                    = optional(string, "tiers")
    max_replica_lag_bytes   = optional(number, 1048576)
    max_replica_lag_seconds = optional(number, 5)
    patroni_ttl             = optional(number, 30)
    patroni_loop_wait       = optional(number, 10)
    patroni_retry_timeout   = optional(number, 10)
    synchronous_mode        = optional(bool, true)
    synchronous_mode_strict = optional(bool, false)
    synchronous_node_count  = optional(number, 1)
  })
  description = "The topology's [database] settings: database and user names, replica lag thresholds, Patroni timings (mode patroni)."
  default     = {}

  validation {
    condition     = var.database.max_replica_lag_bytes >= 1 && var.database.max_replica_lag_seconds >= 0
    error_message = "database.max_replica_lag_bytes must be >= 1 and max_replica_lag_seconds >= 0."
  }
  validation {
    condition     = var.database.patroni_loop_wait + 2 * var.database.patroni_retry_timeout <= var.database.patroni_ttl
    error_message = "Patroni needs loop_wait + 2 * retry_timeout <= ttl."
  }
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database.name)) && can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database.user))
    error_message = "database.name and database.user must be lowercase PostgreSQL identifiers."
  }
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the writer and replicas (mode rds)."
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class must start with \"db.\"."
  }
}

variable "db_replica_count" {
  type        = number
  description = "RDS read replicas (mode rds)."
  default     = 2

  validation {
    condition     = var.db_replica_count >= 0 && var.db_replica_count <= 15 && floor(var.db_replica_count) == var.db_replica_count
    error_message = "db_replica_count must be a whole number from 0 to 15."
  }
}

variable "db_allocated_storage_gb" {
  type        = number
  description = "Initial RDS storage in GiB (mode rds)."
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20
    error_message = "db_allocated_storage_gb must be at least 20."
  }
}

variable "db_multi_az" {
  type        = bool
  description = "Multi-AZ RDS writer (standby takes over the writer endpoint on failure)."
  default     = true
}

variable "db_deletion_protection" {
  type        = bool
  description = "Protect the RDS writer from deletion."
  default     = true
}

variable "db_skip_final_snapshot" {
  type        = bool
  description = "Destroy the RDS writer without a final snapshot (disposable clusters only)."
  default     = false
}

variable "patroni_node_count" {
  type        = number
  description = "PostgreSQL nodes under Patroni (mode patroni)."
  default     = 3

  validation {
    condition     = var.patroni_node_count >= 1 && floor(var.patroni_node_count) == var.patroni_node_count
    error_message = "patroni_node_count must be a whole number >= 1."
  }
}

variable "etcd_count" {
  type        = number
  description = "etcd members (mode patroni), odd."
  default     = 3

  validation {
    condition     = var.etcd_count >= 1 && var.etcd_count % 2 == 1
    error_message = "etcd_count must be an odd number >= 1."
  }
}

variable "patroni_instance_type" {
  type        = string
  description = "EC2 instance type of the Patroni PostgreSQL nodes (mode patroni)."
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.patroni_instance_type))
    error_message = "patroni_instance_type must look like t3.medium."
  }
}

# --- cache and storage -----------------------------------------------------------------------------------

variable "cache_node_count" {
  type        = number
  description = "ElastiCache memcached nodes (cache1..cacheN)."
  default     = 2

  validation {
    condition     = var.cache_node_count >= 1 && var.cache_node_count <= 40 && floor(var.cache_node_count) == var.cache_node_count
    error_message = "cache_node_count must be a whole number from 1 to 40."
  }
}

variable "cache_node_type" {
  type        = string
  description = "ElastiCache node type."
  default     = "cache.t4g.small"

  validation {
    condition     = startswith(var.cache_node_type, "cache.")
    error_message = "cache_node_type must start with \"cache.\"."
  }
}

variable "bucket_prefix" {
  type        = string
  description = "Prefix of the media, static and private bucket names (globally unique: include e.g. the account ID)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,53}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 2-54 lowercase letters, digits, dots and dashes."
  }
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (test clusters only)."
  default     = false
}

variable "secret_recovery_days" {
  type        = number
  description = "Days a deleted cluster secret can be restored (0 deletes at once, for test clusters)."
  default     = 7

  validation {
    condition     = var.secret_recovery_days == 0 || (var.secret_recovery_days >= 7 && var.secret_recovery_days <= 30)
    error_message = "secret_recovery_days must be 0 or from 7 to 30 (Secrets Manager limits)."
  }
}

variable "smtp_host" {
  type        = string
  description = "SMTP relay of the site's mail (e.g. email-smtp.<region>.amazonaws.com); empty leaves the console backend, which the production profile refuses at migrate."
  default     = ""
}

variable "smtp_user" {
  type        = string
  description = "User name on that relay (its password is EMAIL_HOST_PASSWORD, a secret)."
  default     = ""
}
