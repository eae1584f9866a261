# The smallest useful Tiers cluster: one lb, two web nodes, one task worker, one memcached node, the media
# host, and either three Patroni nodes (default) or an RDS writer with one replica. Disposable: buckets and
# the secret are deleted with `terraform destroy`, and the RDS writer is not deletion-protected.

provider "aws" {
  region = var.region
  default_tags {
    tags = { Environment = "example" }
  }
}

module "tiers" {
  source = "../.."

  name          = "tiers-demo"
  bucket_prefix = var.bucket_prefix
  release_repo  = var.release_repo
  database_mode = var.database_mode
  ami_id        = var.ami_id

  web_count        = 2
  worker_count     = 1
  cache_node_count = 1
  cache_node_type  = "cache.t4g.micro"

  # mode rds
  db_instance_class      = "db.t4g.micro"
  db_replica_count       = 1
  db_multi_az            = false
  db_deletion_protection = false
  db_skip_final_snapshot = true

  # mode patroni: three members so one can fail; one etcd member is enough for a demo
  patroni_node_count    = 3
  etcd_count            = 1
  patroni_instance_type = "t3.small"

  force_destroy_buckets = true
  secret_recovery_days  = 0
}
