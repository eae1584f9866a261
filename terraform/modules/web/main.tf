# N identical, stateless Django application nodes of one role, in the private subnets:
#  - web:    Django under uWSGI, behind the HAProxy lb;
#  - queue:  the same, serving only the onsale waiting room (its own HAProxy backend, docs/ONSALE.md);
#  - worker: the background-task workers (django-tasks), which listen on nothing.
# All run the same release with the same needs (read/write on the buckets, the cluster secret, SSM); only
# the program node-install starts differs, and deploy/ decides that from the role. So one module serves
# every such role (var.role) rather than copies of the same instance, IAM and placement code.

data "aws_iam_policy_document" "s3" {
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = var.bucket_arns
  }
  statement {
    sid       = "ReadWriteObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for arn in var.bucket_arns : "${arn}/*"]
  }
}

module "role" {
  source                 = "../node_role"
  name                   = "${var.name}-${var.role}"
  secret_arn             = var.secret_arn
  read_secret            = var.read_secret
  topology_parameter_arn = var.topology_parameter_arn
  policies               = { s3 = data.aws_iam_policy_document.s3.json }
  tags                   = var.tags
}

resource "aws_instance" "node" {
  count         = var.node_count
  ebs_optimized = true
  #checkov:skip=CKV_AWS_126:basic (5-minute) EC2 monitoring; 1-minute detailed monitoring is billed per instance, enable it per host if wanted
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[count.index % length(var.subnet_ids)]
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.role.instance_profile_name
  user_data              = var.user_data

  metadata_options {
    http_tokens            = "required" # IMDSv2 only
    instance_metadata_tags = "enabled"  # user_data reads TiersNode from the metadata service
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb
    encrypted   = true
  }

  tags = merge(var.tags, {
    Name      = "${var.name}-${var.role}${count.index + 1}"
    TiersRole = var.role
    TiersNode = "${var.role}${count.index + 1}"
  })

  lifecycle {
    # A new AMI or boot script must not restart every node at once: replace nodes one by one
    # (terraform apply -replace=...) while `make deploy` drains web nodes in HAProxy.
    ignore_changes = [ami, user_data]
  }
}

# The instances were aws_instance.web before the module served workers too.
moved {
  from = aws_instance.web
  to   = aws_instance.node
}
