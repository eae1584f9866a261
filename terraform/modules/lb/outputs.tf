output "private_ip" {
  description = "Private IP of the lb host (its address in the topology; HAProxy binds it)."
  value       = aws_instance.lb.private_ip
}

output "public_ip" {
  description = "Elastic IP clients reach the site on."
  value       = aws_eip.lb.public_ip
}

output "public_dns" {
  description = "AWS public DNS name of the Elastic IP."
  value       = aws_eip.lb.public_dns
}

output "instance_id" {
  description = "Instance ID of the lb host (for SSM sessions: aws ssm start-session --target ...)."
  value       = aws_instance.lb.id
}
