# The shared cache: an ElastiCache memcached cluster. Django's PyMemcacheCache hashes keys over every
# node itself, so each node is addressed directly (not through the configuration endpoint).

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name}-cache"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_elasticache_cluster" "this" {
  cluster_id         = "${var.name}-cache"
  engine             = "memcached"
  engine_version     = var.engine_version
  node_type          = var.node_type
  num_cache_nodes    = var.node_count
  port               = 11211
  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [var.security_group_id]
  # Spread nodes over the subnets' zones when there is more than one node: losing a zone loses some keys.
  az_mode = var.node_count > 1 && length(var.subnet_ids) > 1 ? "cross-az" : "single-az"
  tags    = var.tags
}
