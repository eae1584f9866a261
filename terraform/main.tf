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

# Alphanumeric only: RDS refuses /, @, " and spaces in passwords, and these also end up in URLs and YAML.
resource "random_password" "db" {
  for_each = toset(["superuser", "replication", "app", "lb_stats"])
  length   = 32
  special  = false
}

resource "random_password" "django_secret_key" {
  length           = 64
  override_special = "!#%*+-=_~"
}

resource "aws_secretsmanager_secret" "cluster" {
  name                    = "${var.name}/secrets"
  description             = "Tiers ${var.name}: database passwords and Django secret key (deploy.model.secrets.Secrets JSON)"
  recovery_window_in_days = var.secret_recovery_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "cluster" {
  secret_id = aws_secretsmanager_secret.cluster.id
  # Empty S3 keys: web and worker nodes sign S3 requests with their instance role (boto3's default credential chain).
  secret_string = jsonencode({
    db_superuser_password   = random_password.db["superuser"].result
    db_replication_password = random_password.db["replication"].result
    db_app_password         = random_password.db["app"].result
    django_secret_key       = random_password.django_secret_key.result
    s3_access_key           = ""
    s3_secret_key           = ""
    lb_stats_password       = random_password.db["lb_stats"].result
  })
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
      packages = r.packages, units = r.debian_units, secret = length(r.secrets) > 0
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
  public_ports       = { lb = [80, 443], media = [80, 443] } # the topology's [lb] and [media] port, https_port
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
    has_topology       = local.patroni
    topology_parameter = local.topology_parameter
    secret_id          = r.secret ? aws_secretsmanager_secret.cluster.name : ""
    setup_command      = "node-install"
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

module "database" {
  source                 = "./modules/database"
  tags                   = local.tags
  name                   = var.name
  mode                   = var.database_mode
  ami_id                 = local.patroni ? local.ami_id : ""
  subnet_ids             = module.network.private_subnet_ids
  security_group_ids     = module.network.security_group_ids
  db_name                = var.database.name
  superuser_password     = random_password.db["superuser"].result
  secret_arn             = aws_secretsmanager_secret.cluster.arn
  topology_parameter_arn = local.topology_parameter_arn
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

# The topology format wants IP addresses; ElastiCache gives hostnames. They are resolved here, from where
# Terraform runs, on every apply: a replaced node's new address needs an apply (docs/AWS.md, "Gaps").
data "dns_a_record_set" "cache" {
  count = local.patroni ? var.cache_node_count : 0
  host  = module.cache.nodes[count.index].address
}

locals {
  # Only the Patroni shape is expressible today: RDS endpoints are hostnames whose address moves on
  # failover, and the format's [db] and [dbproxy] nodes need fixed IPs (docs/AWS.md, "Gaps").
  topology_toml = local.patroni ? templatefile("${path.module}/templates/topology.toml.tftpl", {
    cluster        = var.name
    database       = var.database
    media_bucket   = module.storage.bucket_names["media"]
    static_bucket  = module.storage.bucket_names["static"]
    private_bucket = module.storage.bucket_names["private"]
    region         = local.region
    lb_ip          = module.lb.private_ip
    web            = [for n in module.web.nodes : { name = n.name, ip = n.private_ip }]
    web_processes  = var.web_processes
    db             = [for n in module.database.db_nodes : { name = n.name, ip = n.private_ip, role = n.role }]
    etcd           = [for n in module.database.etcd_nodes : { name = n.name, ip = n.private_ip }]
    dbproxy_ip     = module.database.dbproxy_private_ip
    pgbouncer_ip   = module.database.pgbouncer_private_ip
    cache = [for i, n in module.cache.nodes : {
      name = n.name, host = n.address, ip = sort(data.dns_a_record_set.cache[i].addrs)[0]
    }]
    media_ip = module.storage.media_private_ip
    worker   = [for n in module.worker.nodes : { name = n.name, ip = n.private_ip }]
  }) : null
}

resource "aws_ssm_parameter" "topology" {
  count       = local.patroni ? 1 : 0
  name        = local.topology_parameter
  description = "Tiers ${var.name} topology (deploy/model/topology.py format), read by every host at boot"
  type        = "String"
  tier        = "Intelligent-Tiering" # grows to the advanced tier past 4 KB (many nodes)
  value       = local.topology_toml
  tags        = local.tags
}
