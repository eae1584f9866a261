output "bucket_names" {
  description = "Bucket names by purpose: media, static, private."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose: media, static, private."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "media_private_ip" {
  description = "Private IP of the nginx media host (its address in the topology)."
  value       = aws_instance.media.private_ip
}

output "media_public_ip" {
  description = "Elastic IP browsers fetch /media and /static from."
  value       = aws_eip.media.public_ip
}

output "media_instance_id" {
  description = "Instance ID of the media host."
  value       = aws_instance.media.id
}

output "media_role_arn" {
  description = "ARN of the media host's IAM role (read-only on the media and static buckets)."
  value       = module.media_role.role_arn
}
