output "role_arn" {
  description = "ARN of the node role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the node role."
  value       = aws_iam_role.this.name
}

output "instance_profile_name" {
  description = "Instance profile to attach to the role's EC2 instances."
  value       = aws_iam_instance_profile.this.name
}
