output "site_url" {
  description = "URL of the example site."
  value       = module.tiers.site_url
}

output "topology_toml" {
  description = "Topology to save as deploy/topologies/aws-demo.toml for `make deploy` (null in mode rds)."
  value       = module.tiers.topology_toml
}

output "database_writer_endpoint" {
  description = "RDS writer endpoint (mode rds)."
  value       = module.tiers.database_writer_endpoint
}
