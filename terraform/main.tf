# Tiers on AWS: the same node roles as the local cluster (deploy/topologies/local.toml), on EC2 and
# managed services. See docs/AWS.md for the layout, the flows and what the topology cannot express yet.

# No provider block: this directory is a module. Its caller (examples/minimal, or AWS_REGION and the
# default provider when applied directly) chooses the account and region.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# The newest official Debian 12 image (owner 136693071363 is Debian's AWS account).
data "aws_ami" "debian" {
  count       = var.ami_id == "" ? 1 : 0
  most_recent = true
  owners      = ["136693071363"]
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  ami_id  = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  patroni = var.database_mode == "patroni"
  region  = data.aws_region.current.name
  tags    = merge({ Project = "tiers", Cluster = var.name }, var.tags)

  # The topology parameter's ARN is built from its name, not taken from the resource: the parameter's
  # value holds every host's address, and every host's role must name the parameter (no cycle).
  topology_parameter     = "/${var.name}/topology.toml"
  topology_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${local.region}:${data.aws_caller_identity.current.account_id}:parameter${local.topology_parameter}"
}

# --- secrets: the fields of deploy.model.secrets.Secrets, generated once, kept in Secrets Manager ---------------

locals {
  secret_lengths = {
    db_superuser_password = 32, db_replication_password = 32, db_app_password = 32, lb_stats_password = 32
    django_secret_key     = 64
    patroni_rest_password = 32, etcd_root_password = 32, etcd_patroni_password = 32
  }
}

# Secrets Manager generates them (the AWS provider's own data source: no other provider needed). Letters
# and digits only: RDS refuses / @ " and spaces in passwords, the values end up in URLs and YAML, and
# uWSGI expands % (%n is the node's name), $(VAR) and @(file) in its env lines, so a key holding one would
# differ from node to node. 64 letters and digits are about 380 bits.
data "aws_secretsmanager_random_password" "cluster" {
  for_each                   = local.secret_lengths
  password_length            = each.value
  exclude_punctuation        = true
  include_space              = false
  require_each_included_type = true
}

resource "aws_secretsmanager_secret" "cluster" {
  #checkov:skip=CKV_AWS_149:encrypted with Secrets Manager's AWS-managed key; a customer key adds a key policy to keep in step with every node role
  #checkov:skip=CKV2_AWS_57:rotation needs a Lambda per engine; terraform/README.md says how to rotate by hand with a deploy
  name                    = "${var.name}/secrets"
  description             = "Tiers ${var.name}: database passwords and Django secret key (deploy.model.secrets.Secrets JSON)"
  recovery_window_in_days = var.secret_recovery_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "cluster" {
  secret_id = aws_secretsmanager_secret.cluster.id
  # Empty S3 keys: web, worker and DB nodes sign S3 requests with their instance role (boto3's default credential chain).
  secret_string = jsonencode(merge(
    { for k, p in data.aws_secretsmanager_random_password.cluster : k => p.random_password },
    # pgBackRest on the DB hosts signs with their instance role too; SeaweedFS (the local stand-in for
    # S3) runs nowhere on AWS, so its JWT key stays empty.
    { s3_access_key = "", s3_secret_key = "", backup_s3_access_key = "", backup_s3_secret_key = "", seaweed_jwt_key = "" },
  ))

  lifecycle {
    # The data source draws new values on every plan: the first ones stay (rotate deliberately, with
    # `aws secretsmanager put-secret-value` and a `make deploy`).
    ignore_changes = [secret_string]
  }
}

locals {
  # What was stored, not what the data source drew this time: the RDS password must match the secret.
  secrets = jsondecode(aws_secretsmanager_secret_version.cluster.secret_string)
}

# --- the role registry -----------------------------------------------------------------------------------
# roles.tf.json (generated from deploy/roles/, do not edit) declares local.tiers_roles (per role: the
# module placing its hosts, the modes it exists and runs on our instances in, packages, Debian units,
# secrets, public, reaches_s3) and local.tiers_flows (the security-group table). Everything role-specific
# below is read from those two locals; child modules get the parts they need as variables.
locals {
  # The object store role. On AWS it is S3 itself: no host and no security group; its flows are HTTPS
  # egress to S3's prefix list (the gateway endpoint) from the roles that reach S3.
  object_store_role = "s3"

  # Roles running on our own EC2 instances in this database mode: each gets a user_data script.
  # Debian packages per role; the Debian services they bring are disabled (systemd units come from deploy/).
  # A role listing secret fields gets the cluster secret (user_data fetches it; its IAM role may read it).
  role_packages = {
    for role, r in local.tiers_roles : role => {
      packages      = r.packages, units = r.debian_units, secret = length(r.secrets) > 0 || r.release_setup
      release_setup = r.release_setup
    } if contains(r.instances_in, var.database_mode)
  }
}

# --- tiers ------------------------------------------------------------------------------------------------

module "network" {
  source             = "./modules/network"
  tags               = local.tags
  name               = var.name
  vpc_cidr           = var.vpc_cidr
  az_count           = var.az_count
  allowed_http_cidrs = var.allowed_http_cidrs
  public_ports       = { for role, p in local.public_ports : role => values(p) }
  database_mode      = var.database_mode
  # A security group for every role but the object store (managed services included: RDS, ElastiCache).
  roles = {
    for role, r in local.tiers_roles : role => {
      exists_in = r.exists_in, instances_in = r.instances_in, public = r.public, reaches_s3 = r.reaches_s3
    } if role != local.object_store_role
  }
  # Rows to the object store are the roles' reaches_s3 egress on AWS, not group-to-group rules.
  flows = { for name, f in local.tiers_flows : name => f if f.to != local.object_store_role }
}

locals {
  user_data = { for role, r in local.role_packages : role => templatefile("${path.module}/templates/user_data.sh.tftpl", {
    cluster            = var.name
    role               = role
    region             = local.region
    packages           = r.packages
    debian_units       = r.units
    release_repo       = var.release_repo
    release_ref        = var.release_ref
    topology_parameter = local.topology_parameter
    secret_id          = r.secret ? aws_secretsmanager_secret.cluster.name : ""
    release_setup      = r.release_setup
    db_admin_user      = local.patroni ? "" : module.database.superuser_name
  }) }
}

module "lb" {
  source                 = "./modules/lb"
  tags                   = local.tags
  name                   = var.name
  ami_id                 = local.ami_id
  instance_type          = var.lb_instance_type
  subnet_id              = module.network.public_subnet_ids[0]
  security_group_id      = module.network.security_group_ids["lb"]
  user_data              = local.user_data["lb"]
  topology_parameter_arn = local.topology_parameter_arn
}

module "storage" {
  source                  = "./modules/storage"
  tags                    = local.tags
  name                    = var.name
  ami_id                  = local.ami_id
  bucket_prefix           = var.bucket_prefix
  force_destroy           = var.force_destroy_buckets
  s3_endpoint_id          = module.network.s3_endpoint_id
  media_instance_type     = var.media_instance_type
  media_subnet_id         = module.network.public_subnet_ids[length(module.network.public_subnet_ids) - 1]
  media_security_group_id = module.network.security_group_ids["media"]
  media_user_data         = local.user_data["media"]
  topology_parameter_arn  = local.topology_parameter_arn
}

# Web and worker nodes share modules/web: same release, placement and IAM needs (read/write on every
# bucket, the cluster secret, SSM); the role only names the nodes and picks the program deploy/ starts.
module "web" {
  source                 = "./modules/web"
  tags                   = local.tags
  name                   = var.name
  role                   = "web"
  ami_id                 = local.ami_id
  node_count             = var.web_count
  instance_type          = var.web_instance_type
  subnet_ids             = module.network.private_subnet_ids
  security_group_id      = module.network.security_group_ids["web"]
  user_data              = local.user_data["web"]
  read_secret            = local.role_packages["web"].secret
  bucket_arns            = values(module.storage.bucket_arns)
  secret_arn             = aws_secretsmanager_secret.cluster.arn
  topology_parameter_arn = local.topology_parameter_arn
}

module "worker" {
  source                 = "./modules/web"
  tags                   = local.tags
  name                   = var.name
  role                   = "worker"
  ami_id                 = local.ami_id
  node_count             = var.worker_count
  instance_type          = var.worker_instance_type
  subnet_ids             = module.network.private_subnet_ids
  security_group_id      = module.network.security_group_ids["worker"]
  user_data              = local.user_data["worker"]
  read_secret            = local.role_packages["worker"].secret
  bucket_arns            = values(module.storage.bucket_arns)
  secret_arn             = aws_secretsmanager_secret.cluster.arn
  topology_parameter_arn = local.topology_parameter_arn
}

# The onsale waiting room's nodes: the same Django release as the web nodes, on hosts of their own.
module "queue" {
  source                 = "./modules/web"
  tags                   = local.tags
  name                   = var.name
  role                   = "queue"
  ami_id                 = local.ami_id
  node_count             = var.queue_count
  instance_type          = var.queue_instance_type
  subnet_ids             = module.network.private_subnet_ids
  security_group_id      = module.network.security_group_ids["queue"]
  user_data              = local.user_data["queue"]
  read_secret            = local.role_packages["queue"].secret
  bucket_arns            = values(module.storage.bucket_arns)
  secret_arn             = aws_secretsmanager_secret.cluster.arn
  topology_parameter_arn = local.topology_parameter_arn
}

module "database" {
  source                 = "./modules/database"
  tags                   = local.tags
  name                   = var.name
  mode                   = var.database_mode
  ami_id                 = local.patroni ? local.ami_id : ""
  subnet_ids             = module.network.private_subnet_ids
  security_group_ids     = module.network.security_group_ids
  superuser_password     = local.secrets.db_superuser_password
  secret_arn             = aws_secretsmanager_secret.cluster.arn
  topology_parameter_arn = local.topology_parameter_arn
  backup_bucket_arn      = module.storage.backup_bucket_arn
  # mode rds
  instance_class        = var.db_instance_class
  replica_count         = var.db_replica_count
  allocated_storage_gb  = var.db_allocated_storage_gb
  multi_az              = var.db_multi_az
  deletion_protection   = var.db_deletion_protection
  skip_final_snapshot   = var.db_skip_final_snapshot
  backup_retention_days = 7
  # mode patroni
  node_count         = var.patroni_node_count
  etcd_count         = var.etcd_count
  node_instance_type = var.patroni_instance_type
  # The registry's roles placed by this module that run on instances in this mode (none under RDS).
  user_data = { for role, script in local.user_data : role => script if local.tiers_roles[role].host_group == "database" }
}

module "cache" {
  source            = "./modules/cache"
  tags              = local.tags
  name              = var.name
  node_count        = var.cache_node_count
  node_type         = var.cache_node_type
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.security_group_ids["cache"]
}

# --- the topology ---------------------------------------------------------------------------------------
# One object in deploy/model/topology.py's shape (section => values, role => its nodes), rendered to TOML by
# templates/topology.toml.tftpl, published to the SSM parameter hosts follow and output for the operator
# (`python -m deploy topology from-terraform`). tests/*.tftest.hcl check it against the security groups.

locals {
  # Public listeners (HTTP redirects to HTTPS in production): the topology's ports and the groups' rules.
  public_ports = {
    lb    = { port = 80, https_port = 443 }
    media = { port = 80, https_port = 443 }
  }
  ports = { for role, r in local.tiers_roles : role => r.ports }

  # The names browsers use: the operator's DNS names, else the Elastic IPs (which survive a replaced host).
  public_host  = var.site_domain != "" ? var.site_domain : module.lb.public_ip
  media_host   = var.media_domain != "" ? var.media_domain : module.storage.media_public_ip
  s3_endpoint  = "s3.${local.region}.amazonaws.com"
  vpc_resolver = "169.254.169.253" # the VPC's DNS server, from every instance

  # RDS: the writer is db1 and, as the endpoint that follows a Multi-AZ failover, dbproxy too; the
  # replicas are db2..dbN. Patroni: our own instances. Same attributes either way (null = not written).
  rds_db_nodes = local.patroni ? [] : concat(
    [{ name = "db1", address = module.database.writer_endpoint, role = "primary" }],
    [for i, host in module.database.reader_endpoints : { name = "db${i + 2}", address = host, role = "replica" }],
  )
  db_nodes = concat(
    [for n in local.rds_db_nodes : {
      name       = n.name, address = n.address, port = local.ports.db.port, rest_port = null, role = n.role
      replica_of = null, managed = true
    }],
    [for n in module.database.db_nodes : {
      name = n.name, address = n.private_ip, port = local.ports.db.port, rest_port = local.ports.db.rest_port
      role = n.role, replica_of = n.role == "replica" ? "db1" : null, managed = null
    }],
  )
  dbproxy_nodes = [{
    name       = "dbproxy"
    address    = local.patroni ? module.database.dbproxy_private_ip : module.database.writer_endpoint
    port       = local.ports.dbproxy.port
    stats_port = local.patroni ? local.ports.dbproxy.stats_port : null
    managed    = local.patroni ? null : true
  }]

  topology = {
    cluster = { name = var.name, profile = "production" }
    database = merge(var.database, {
      # pg_hba admits the private subnets: a new web or worker node needs no change on the database nodes.
      client_networks = module.network.private_subnet_cidrs
    })
    storage = {
      media_bucket   = module.storage.bucket_names["media"]
      static_bucket  = module.storage.bucket_names["static"]
      private_bucket = module.storage.bucket_names["private"]
      # pgBackRest's repository: the DB hosts sign with their instance role (the backup bucket only).
      backup_bucket = module.storage.bucket_names["backup"]
      region        = local.region
      # Path style on the regional endpoint: the request the media host forwards for a presigned private
      # URL (Host = the endpoint, path = /bucket/key) is then exactly the one Django signed.
      addressing_style = "path"
      endpoint_url     = "https://${local.s3_endpoint}"
    }
    # The site's SMTP relay; empty leaves the console backend, which the production profile refuses
    # (system check guard.E001 stops `migrate`): docs/SETTINGS.md.
    email = { host = var.smtp_host, user = var.smtp_user }
    nodes = {
      lb = [{
        name        = "lb"
        address     = module.lb.private_ip
        port        = local.public_ports.lb.port
        https_port  = local.public_ports.lb.https_port
        stats_port  = local.ports.lb.stats_port
        public_host = local.public_host
        # The operator's ACME client keeps this file current (chain, then key) and reloads the unit; until
        # its first run, node-install puts a certificate of the cluster's own CA there (docs/OPERATIONS.md).
        tls_cert = "/etc/tiers/tls/site.pem"
      }]
      web = [for n in module.web.nodes : {
        name      = n.name, address = n.private_ip, port = local.ports.web.port, check_port = local.ports.web.check_port
        processes = var.web_processes
      }]
      queue = [for n in module.queue.nodes : {
        name = n.name, address = n.private_ip, port = local.ports.queue.port, check_port = local.ports.queue.check_port
      }]
      db      = local.db_nodes
      etcd    = [for n in module.database.etcd_nodes : { name = n.name, address = n.private_ip, port = local.ports.etcd.port, peer_port = local.ports.etcd.peer_port }]
      dbproxy = local.dbproxy_nodes
      # The connection pooler in front of dbproxy and each DB node (Patroni mode; RDS: none).
      pgbouncer = local.patroni ? [{ name = "pgbouncer", address = module.database.pgbouncer_private_ip, port = local.ports.pgbouncer.port }] : []
      cache     = [for n in module.cache.nodes : { name = n.name, address = n.address, port = n.port, managed = true }]
      # S3 itself: web and worker nodes use [storage] endpoint_url, the media host this endpoint over HTTPS.
      s3 = [{ name = "s3", address = local.s3_endpoint, port = 443, managed = true }]
      media = [{
        name       = "media"
        address    = module.storage.media_private_ip
        port       = local.public_ports.media.port
        https_port = local.public_ports.media.https_port
        public_url = "https://${local.media_host}"
        resolver   = local.vpc_resolver
        tls_cert   = "/etc/tiers/tls/media.pem"
      }]
      worker = [for n in module.worker.nodes : { name = n.name, address = n.private_ip }]
    }
  }

  topology_toml = templatefile("${path.module}/templates/topology.toml.tftpl", {
    topology = local.topology
    # Registry order (deploy/roles/__init__.py), so the file reads like deploy/topologies/*.toml.
    roles = ["lb", "web", "queue", "db", "etcd", "dbproxy", "pgbouncer", "cache", "s3", "media", "worker"]
  })
}

resource "aws_ssm_parameter" "topology" {
  #checkov:skip=CKV2_AWS_34:the topology holds addresses and names, no secret (those are in the Secrets Manager secret)
  name        = local.topology_parameter
  description = "Tiers ${var.name} topology (deploy/model/topology.py format); every host follows it (tiers-sync.timer)"
  type        = "String"
  tier        = "Intelligent-Tiering" # grows to the advanced tier past 4 KB (many nodes)
  value       = local.topology_toml
  tags        = local.tags
}
