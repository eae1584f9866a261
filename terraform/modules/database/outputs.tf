output "mode" {
  description = "The database shape: rds or patroni."
  value       = var.mode
}

output "writer_endpoint" {
  description = "RDS writer endpoint hostname (mode rds; the dbproxy role points here), null in mode patroni."
  value       = local.rds ? aws_db_instance.writer[0].address : null
}

output "reader_endpoints" {
  description = "RDS read replica hostnames in order db2..dbN (mode rds), empty in mode patroni."
  value       = aws_db_instance.replica[*].address
}

output "superuser_name" {
  description = "The administrative user (RDS master user): the release setup creates the application role with it."
  value       = var.superuser_name
}

output "port" {
  description = "PostgreSQL port of every database endpoint."
  value       = 5432
}

output "db_nodes" {
  description = "Patroni nodes (mode patroni): name, private IP, bootstrap role (db1 primary, others replica)."
  value = [for name in local.db_names : {
    name       = name
    private_ip = aws_instance.node[name].private_ip
    role       = name == "db1" ? "primary" : "replica"
  }]
}

output "etcd_nodes" {
  description = "etcd members (mode patroni): name and private IP."
  value = [for name in local.etcd_names : {
    name       = name
    private_ip = aws_instance.node[name].private_ip
  }]
}

output "dbproxy_private_ip" {
  description = "Private IP of the dbproxy host (mode patroni), null in mode rds."
  value       = local.patroni ? aws_instance.node["dbproxy"].private_ip : null
}

output "pgbouncer_private_ip" {
  description = "Private IP of the PgBouncer host (mode patroni), null in mode rds."
  value       = local.patroni ? aws_instance.node["pgbouncer"].private_ip : null
}
