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
  description = "AMI of the Patroni, etcd and dbproxy hosts (Debian 12); unused in mode rds."

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or look like ami-0123456789abcdef0."
  }
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

variable "mode" {
  type        = string
  description = "\"rds\": RDS PostgreSQL writer (Multi-AZ) plus read replicas. \"patroni\": EC2 PostgreSQL nodes under Patroni, an etcd cluster and an HAProxy dbproxy host."

  validation {
    condition     = contains(["rds", "patroni"], var.mode)
    error_message = "mode must be \"rds\" or \"patroni\"."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the database tier (RDS subnet group needs two AZs)."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs subnets in at least two availability zones."
  }
}

variable "security_group_ids" {
  type        = map(string)
  description = "Security group per role from the network module; uses keys db, dbproxy and etcd."

  validation {
    condition     = alltrue([for k in ["db", "dbproxy", "etcd"] : contains(keys(var.security_group_ids), k)])
    error_message = "security_group_ids must have the keys db, dbproxy and etcd."
  }
}

variable "superuser_name" {
  type        = string
  description = "Administrative user (the RDS master user; the application user is created by the deploy step)."
  default     = "tiers_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.superuser_name)) && !contains(["admin", "postgres", "rdsadmin"], var.superuser_name)
    error_message = "superuser_name must be a lowercase identifier other than admin, postgres or rdsadmin."
  }
}

variable "superuser_password" {
  type        = string
  description = "Password of the administrative user (from the cluster secret)."
  sensitive   = true
}

# --- RDS -----------------------------------------------------------------------------------------------

variable "engine_version" {
  type        = string
  description = "PostgreSQL major (or major.minor) version; 15 matches the local cluster."
  default     = "15"
}

variable "instance_class" {
  type        = string
  description = "RDS instance class of the writer and the replicas (mode rds)."
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class starting with \"db.\"."
  }
}

variable "allocated_storage_gb" {
  type        = number
  description = "Initial RDS storage in GiB; storage autoscaling may grow it to 4x (mode rds)."
  default     = 20

  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "allocated_storage_gb must be at least 20 (gp3 minimum for RDS PostgreSQL)."
  }
}

variable "replica_count" {
  type        = number
  description = "Number of RDS read replicas (mode rds); the router reads from them."
  default     = 2

  validation {
    condition     = var.replica_count >= 0 && var.replica_count <= 15 && floor(var.replica_count) == var.replica_count
    error_message = "replica_count must be a whole number from 0 to 15."
  }
}

variable "multi_az" {
  type        = bool
  description = "Run the RDS writer Multi-AZ (a standby that takes over the writer endpoint on failure)."
  default     = true
}

variable "backup_retention_days" {
  type        = number
  description = "Days of automated RDS backups; read replicas need at least 1."
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be from 1 to 35 (read replicas need backups on)."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the RDS writer (turn off deliberately before a destroy)."
  default     = true
}

variable "skip_final_snapshot" {
  type        = bool
  description = "Delete the RDS writer without a final snapshot (disposable clusters only)."
  default     = false
}

# --- Patroni on EC2 ------------------------------------------------------------------------------------

variable "node_count" {
  type        = number
  description = "PostgreSQL nodes under Patroni (mode patroni): db1 bootstraps as leader, the rest replicate."
  default     = 3

  validation {
    condition     = var.node_count >= 1 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number >= 1."
  }
}

variable "etcd_count" {
  type        = number
  description = "etcd members (mode patroni); an odd number so a majority survives one loss."
  default     = 3

  validation {
    condition     = var.etcd_count >= 1 && var.etcd_count % 2 == 1
    error_message = "etcd_count must be an odd number >= 1 (3 tolerates one failure)."
  }
}

variable "node_instance_type" {
  type        = string
  description = "EC2 instance type of the Patroni PostgreSQL nodes."
  default     = "t3.medium"
}

variable "small_instance_type" {
  type        = string
  description = "EC2 instance type of the etcd members and the dbproxy host."
  default     = "t3.micro"
}

variable "data_volume_gb" {
  type        = number
  description = "Root volume size of each Patroni node in GiB (holds the PostgreSQL data directory)."
  default     = 50

  validation {
    condition     = var.data_volume_gb >= 10
    error_message = "data_volume_gb must be at least 10."
  }
}

variable "user_data" {
  type        = map(string)
  description = "cloud-init user_data per EC2 role (mode patroni): keys db, etcd, dbproxy and pgbouncer."
  default     = {}
}

variable "backup_bucket_arn" {
  type        = string
  description = "ARN of pgBackRest's S3 bucket (mode patroni: the DB hosts archive WAL and store backups there)."
}
