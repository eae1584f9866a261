# The database tier, in one of two shapes (var.mode):
#  - rds:     an RDS PostgreSQL writer (Multi-AZ: AWS fails over to the standby and moves the writer
#             endpoint) plus read replicas. The topology's dbproxy role is then simply the writer endpoint.
#  - patroni: the local cluster's shape on EC2: PostgreSQL nodes run by Patroni, an etcd cluster holding
#             the leader lock and an HAProxy "dbproxy" host that follows Patroni's /primary.

locals {
  rds     = var.mode == "rds"
  patroni = var.mode == "patroni"
}

# --- RDS -----------------------------------------------------------------------------------------------

resource "aws_db_subnet_group" "this" {
  count      = local.rds ? 1 : 0
  name       = "${var.name}-db"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_db_instance" "writer" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.multi_az (default true); replicas and disposable examples turn it off
  #checkov:skip=CKV_AWS_293:deletion protection is var.deletion_protection (default true); examples turn it off
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs its own IAM role; CloudWatch's standard RDS metrics are kept
  #checkov:skip=CKV_AWS_353:Performance Insights is not offered on the small classes the examples use; enable it per class
  #checkov:skip=CKV2_AWS_30:statement logging needs a parameter group and logs every query; the server log is exported
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  count                               = local.rds ? 1 : 0
  identifier                          = "${var.name}-db1"
  engine                              = "postgres"
  engine_version                      = var.engine_version
  instance_class                      = var.instance_class
  allocated_storage                   = var.allocated_storage_gb
  max_allocated_storage               = var.allocated_storage_gb * 4 # storage autoscaling ceiling
  storage_type                        = "gp3"
  storage_encrypted                   = true
  # No db_name: the release setup creates the application database owned by the application role
  # (db/app_role.sql), as Patroni's post_bootstrap does; a database the admin owned would leave the app
  # no right to create its tables (PostgreSQL 15's public schema).
  username                   = var.superuser_name
  password                   = var.superuser_password
  multi_az                   = var.multi_az
  db_subnet_group_name       = aws_db_subnet_group.this[0].name
  vpc_security_group_ids     = [var.security_group_ids["db"]]
  publicly_accessible        = false
  backup_retention_period    = var.backup_retention_days
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = var.skip_final_snapshot
  final_snapshot_identifier  = var.skip_final_snapshot ? null : "${var.name}-db1-final"
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  apply_immediately          = false # parameter and class changes wait for the maintenance window
  tags                       = merge(var.tags, { Name = "${var.name}-db1", TiersNode = "db1" })
}

resource "aws_db_instance" "replica" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.multi_az (default true); replicas and disposable examples turn it off
  #checkov:skip=CKV_AWS_293:deletion protection is var.deletion_protection (default true); examples turn it off
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs its own IAM role; CloudWatch's standard RDS metrics are kept
  #checkov:skip=CKV_AWS_353:Performance Insights is not offered on the small classes the examples use; enable it per class
  #checkov:skip=CKV2_AWS_30:statement logging needs a parameter group and logs every query; the server log is exported
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  copy_tags_to_snapshot               = true
  count                               = local.rds ? var.replica_count : 0
  identifier                          = "${var.name}-db${count.index + 2}"
  replicate_source_db                 = aws_db_instance.writer[0].identifier
  instance_class                      = var.instance_class
  storage_type                        = "gp3"
  storage_encrypted                   = true
  vpc_security_group_ids              = [var.security_group_ids["db"]]
  publicly_accessible                 = false
  skip_final_snapshot                 = true # a replica's data is the writer's; its backups are the writer's
  auto_minor_version_upgrade          = true
  apply_immediately                   = false
  tags                                = merge(var.tags, { Name = "${var.name}-db${count.index + 2}", TiersNode = "db${count.index + 2}" })
}

# --- Patroni on EC2 ------------------------------------------------------------------------------------

module "db_role" {
  count                  = local.patroni ? 1 : 0
  source                 = "../node_role"
  name                   = "${var.name}-db"
  secret_arn             = var.secret_arn
  read_secret            = true # Patroni needs the superuser, replication and application passwords
  topology_parameter_arn = var.topology_parameter_arn
  policies               = { pgbackrest = data.aws_iam_policy_document.backup.json }
  tags                   = var.tags
}

# pgBackRest on every DB host (whichever leads archives WAL; backups and restores run there): its bucket
# only. Deleting is expire's job (retention); the bucket's versioning keeps deleted objects a while.
data "aws_iam_policy_document" "backup" {
  statement {
    sid       = "ListBackupBucket"
    actions   = ["s3:ListBucket"]
    resources = [var.backup_bucket_arn]
  }
  statement {
    sid       = "ReadWriteBackups"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.backup_bucket_arn}/*"]
  }
}

module "dcs_role" {
  count                  = local.patroni ? 1 : 0
  source                 = "../node_role"
  name                   = "${var.name}-dbinfra"
  topology_parameter_arn = var.topology_parameter_arn
  tags                   = var.tags
}

locals {
  # Every EC2 host of the Patroni shape, by node name; db1 bootstraps as the leader.
  db_names    = [for i in range(local.patroni ? var.node_count : 0) : "db${i + 1}"]
  etcd_names  = [for i in range(local.patroni ? var.etcd_count : 0) : "etcd${i + 1}"]
  proxy_names = local.patroni ? ["dbproxy"] : []
  # The connection pooler (role pgbouncer): one small host beside dbproxy.
  pooler_names = local.patroni ? ["pgbouncer"] : []
  ec2_nodes = merge(
    { for i, n in local.db_names : n => {
      role = "db", type = var.node_instance_type, disk = var.data_volume_gb, subnet = i
    } },
    { for i, n in local.etcd_names : n => {
      role = "etcd", type = var.small_instance_type, disk = var.root_volume_gb, subnet = i
    } },
    { for n in local.proxy_names : n => {
      role = "dbproxy", type = var.small_instance_type, disk = var.root_volume_gb, subnet = 0
    } },
    { for n in local.pooler_names : n => {
      role = "pgbouncer", type = var.small_instance_type, disk = var.root_volume_gb, subnet = 0
    } },
  )
}

resource "aws_instance" "node" {
  for_each      = local.ec2_nodes
  ebs_optimized = true
  #checkov:skip=CKV_AWS_126:basic (5-minute) EC2 monitoring; 1-minute detailed monitoring is billed per instance, enable it per host if wanted
  ami                    = var.ami_id
  instance_type          = each.value.type
  subnet_id              = var.subnet_ids[each.value.subnet % length(var.subnet_ids)]
  vpc_security_group_ids = [var.security_group_ids[each.value.role]]
  iam_instance_profile   = each.value.role == "db" ? module.db_role[0].instance_profile_name : module.dcs_role[0].instance_profile_name
  user_data              = lookup(var.user_data, each.value.role, "")

  metadata_options {
    http_tokens            = "required" # IMDSv2 only
    instance_metadata_tags = "enabled"  # user_data reads TiersNode from the metadata service
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = each.value.disk
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}", TiersRole = each.value.role, TiersNode = each.key })

  lifecycle {
    # Database hosts are replaced one at a time, after a Patroni switchover, never by a new AMI.
    ignore_changes = [ami, user_data]
    precondition {
      condition     = var.ami_id != ""
      error_message = "mode patroni needs ami_id (a Debian 12 AMI)."
    }
  }
}
