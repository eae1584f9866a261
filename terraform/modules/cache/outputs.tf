output "nodes" {
  description = "Cache nodes in order: name (cache1..cacheN), DNS address and port."
  value = [for i, n in aws_elasticache_cluster.this.cache_nodes : {
    name    = "cache${i + 1}"
    address = n.address
    port    = n.port
  }]
}

output "configuration_endpoint" {
  description = "memcached configuration endpoint (host:port) for auto-discovery clients."
  value       = aws_elasticache_cluster.this.configuration_endpoint
}
