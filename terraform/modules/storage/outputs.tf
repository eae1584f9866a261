output "bucket_names" {
  description = "Bucket names by purpose: media, static, private, backup."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "ARNs of the application's buckets by purpose: media, static, private (not the backups)."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn if k != "backup" }
}

output "backup_bucket_arn" {
  description = "ARN of pgBackRest's bucket (the database hosts' role may write it; nothing else may)."
  value       = aws_s3_bucket.this["backup"].arn
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
