output "topology_toml" {
  description = "The cluster's topology in deploy/model/topology.py's format (profile production), as published to the SSM parameter: `terraform output -json | python -m deploy topology from-terraform`."
  value       = local.topology_toml
}

output "topology" {
  description = "The same topology as an object (section => values, role => nodes), for checks (tests/*.tftest.hcl) and other tools."
  value       = local.topology
}

output "topology_parameter" {
  description = "SSM parameter holding topology_toml; every host re-runs node-install when it changes (tiers-sync.timer)."
  value       = aws_ssm_parameter.topology.name
}

output "site_url" {
  description = "URL of the site: HAProxy on the lb host, by site_domain or its Elastic IP (HTTP redirects to HTTPS)."
  value       = "https://${local.public_host}/"
}

output "media_url" {
  description = "Base URL of the nginx media host (media_domain or its Elastic IP): /media/ and /static/ live under it."
  value       = "https://${local.media_host}/"
}

output "lb_public_ip" {
  description = "Elastic IP of the lb host: the A record of site_domain."
  value       = module.lb.public_ip
}

output "media_public_ip" {
  description = "Elastic IP of the media host: the A record of media_domain."
  value       = module.storage.media_public_ip
}

output "database_mode" {
  description = "The database shape in use: rds or patroni."
  value       = var.database_mode
}

output "database_writer_endpoint" {
  description = "RDS writer endpoint hostname (database_mode = \"rds\"): what the dbproxy role stands for; web and worker nodes' DB_PRIMARY_HOST."
  value       = module.database.writer_endpoint
}

output "database_reader_endpoints" {
  description = "RDS read replica hostnames (database_mode = \"rds\"), db2..dbN: web and worker nodes' read candidates."
  value       = module.database.reader_endpoints
}

output "database_nodes" {
  description = "Patroni PostgreSQL nodes (database_mode = \"patroni\"): name, private IP, bootstrap role."
  value       = module.database.db_nodes
}

output "cache_nodes" {
  description = "ElastiCache memcached nodes: name, DNS address, port."
  value       = module.cache.nodes
}

output "web_nodes" {
  description = "Web nodes: name, private IP, instance ID (aws ssm start-session --target <id>)."
  value       = module.web.nodes
}

output "queue_nodes" {
  description = "Waiting-room nodes: name, private IP, instance ID (aws ssm start-session --target <id>)."
  value       = module.queue.nodes
}

output "worker_nodes" {
  description = "Background-task worker nodes: name, private IP, instance ID (aws ssm start-session --target <id>)."
  value       = module.worker.nodes
}

output "media_instance_id" {
  description = "Instance ID of the nginx media host (aws ssm start-session --target <id>)."
  value       = module.storage.media_instance_id
}

output "lb_instance_id" {
  description = "Instance ID of the HAProxy host (SSM sessions, runtime API via the stats socket)."
  value       = module.lb.instance_id
}

output "bucket_names" {
  description = "S3 bucket names: media, static, private."
  value       = module.storage.bucket_names
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret with the cluster's passwords and keys (deploy.model.secrets.Secrets JSON)."
  value       = aws_secretsmanager_secret.cluster.arn
}

output "security_rules" {
  description = "The tier-to-tier ingress rules as applied (name => from, to, port), read back from the rule resources."
  value       = module.network.ingress_rules
}

output "security_flows" {
  description = "Allowed tier-to-tier flows of this database mode (name => from, to, port, why), from the role registry's tiers_flows; S3 egress is not among them."
  value       = module.network.flows
}
