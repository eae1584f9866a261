output "site_url" {
  description = "URL of the example site."
  value       = module.tiers.site_url
}

output "media_url" {
  description = "Base URL of the example's media host."
  value       = module.tiers.media_url
}

output "topology_toml" {
  description = "The cluster's topology: `terraform output -json | python -m deploy topology from-terraform -o deploy/topologies/aws-demo.toml`."
  value       = module.tiers.topology_toml
}

output "topology" {
  description = "The topology as an object (checked by terraform test)."
  value       = module.tiers.topology
}

output "instance_ids" {
  description = "Instance ID per host name, for SSM sessions: aws ssm start-session --target <id>."
  value = merge(
    { lb = module.tiers.lb_instance_id, media = module.tiers.media_instance_id },
    { for n in concat(module.tiers.web_nodes, module.tiers.worker_nodes) : n.name => n.instance_id },
  )
}

output "database_writer_endpoint" {
  description = "RDS writer endpoint (mode rds)."
  value       = module.tiers.database_writer_endpoint
}
