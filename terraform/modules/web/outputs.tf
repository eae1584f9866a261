output "nodes" {
  description = "Web nodes in order: name (web1..webN), private IP and instance ID."
  value = [for i, inst in aws_instance.web : {
    name        = "web${i + 1}"
    private_ip  = inst.private_ip
    instance_id = inst.id
  }]
}

output "role_arn" {
  description = "ARN of the web nodes' IAM role (S3 read/write on the cluster buckets)."
  value       = module.role.role_arn
}
