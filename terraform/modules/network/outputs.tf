output "vpc_id" {
  description = "ID of the cluster's VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnet IDs, one per availability zone (lb and media hosts)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnet IDs, one per availability zone (web, worker, database, cache)."
  value       = aws_subnet.private[*].id
}

output "private_subnet_cidrs" {
  description = "IPv4 CIDRs of the private subnets: where web, worker and database clients connect from (pg_hba)."
  value       = aws_subnet.private[*].cidr_block
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway VPC endpoint (bucket policies admit reads through it)."
  value       = aws_vpc_endpoint.s3.id
}

output "security_group_ids" {
  description = "Security group ID per role of var.roles (every registry role but the object store: lb, web, worker, media, db, dbproxy, etcd, cache)."
  value       = { for role, sg in aws_security_group.role : role => sg.id }
}

output "flows" {
  description = "The tier-to-tier flows of this database mode (name => from, to, port, why), for review and docs; S3 egress is not among them."
  value       = local.flows
}

output "ingress_rules" {
  description = "Every tier-to-tier ingress rule as applied (name => from role, to role, port), read back from the rules themselves: what tests/*.tftest.hcl compare with the topology's ports."
  value = { for name, r in aws_vpc_security_group_ingress_rule.flow : name => {
    from = local.role_of_group[r.referenced_security_group_id]
    to   = local.role_of_group[r.security_group_id]
    port = r.from_port
  } }
}
