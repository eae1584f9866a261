output "nodes" {
  description = "Nodes in order: name (<role>1..<role>N, e.g. web1 or worker1), private IP and instance ID."
  value = [for i, inst in aws_instance.node : {
    name        = "${var.role}${i + 1}"
    private_ip  = inst.private_ip
    instance_id = inst.id
  }]
}

output "role_arn" {
  description = "ARN of the nodes' IAM role (S3 read/write on the cluster buckets)."
  value       = module.role.role_arn
}
