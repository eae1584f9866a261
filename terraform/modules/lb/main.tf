# The site's load balancer: HAProxy on one EC2 host in a public subnet, with an Elastic IP.
# Not an ALB: rolling deploys drain, disable and re-enable servers through HAProxy's runtime API
# (stats socket), and the health checks, per-server maxconn queueing and retry-on policy are rendered
# from the same topology as the local cluster. An ALB offers none of that runtime control.

module "role" {
  source                 = "../node_role"
  name                   = "${var.name}-lb"
  topology_parameter_arn = var.topology_parameter_arn
  tags                   = var.tags
}

resource "aws_instance" "lb" {
  #checkov:skip=CKV_AWS_88:the site's entry point: clients reach it on its (Elastic) public address by design
  ebs_optimized = true
  #checkov:skip=CKV_AWS_126:basic (5-minute) EC2 monitoring; 1-minute detailed monitoring is billed per instance, enable it per host if wanted
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.role.instance_profile_name
  user_data              = var.user_data
  # An ephemeral public address from launch: first boot installs packages before the EIP attaches.
  associate_public_ip_address = true

  metadata_options {
    http_tokens            = "required" # IMDSv2 only
    instance_metadata_tags = "enabled"  # user_data reads TiersNode from the metadata service
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-lb", TiersRole = "lb", TiersNode = "lb" })

  lifecycle {
    ignore_changes = [ami, user_data] # replace deliberately, never as a side effect of a new AMI
  }
}

# The public address survives instance replacement; point the site's DNS name at it.
resource "aws_eip" "lb" {
  domain   = "vpc"
  instance = aws_instance.lb.id
  tags     = merge(var.tags, { Name = "${var.name}-lb" })
}
