# Object storage and its front: three S3 buckets and the nginx media host that serves two of them.
#  - media:   user uploads; served to browsers only through the media host
#  - static:  collectstatic output (hashed names); served through the media host
#  - private: files no browser may fetch (exports, order documents); web and worker nodes only
#  - backup:  pgBackRest's repository (base backups, archived WAL); the database hosts only
# Every bucket blocks public access, is versioned and encrypted, and refuses plain HTTP.

locals {
  buckets = {
    media   = "${var.bucket_prefix}-media"
    static  = "${var.bucket_prefix}-static"
    private = "${var.bucket_prefix}-private"
    backup  = "${var.bucket_prefix}-backup"
  }
  served = toset(["media", "static"]) # the buckets the media host serves
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_19:encrypted by aws_s3_bucket_server_side_encryption_configuration.this below (checkov does not follow for_each)
  #checkov:skip=CKV_AWS_145:SSE-S3 by default, SSE-KMS with var.kms_key_arn: a customer key is the operator's choice
  #checkov:skip=CKV_AWS_18:server access logs need a log bucket of their own; CloudTrail data events are the audit path (terraform/README.md)
  #checkov:skip=CKV_AWS_144:cross-region replication doubles storage; versioning is the undo window (docs/AWS.md)
  #checkov:skip=CKV2_AWS_62:nothing consumes S3 events: uploads are processed by the task workers
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { Name = each.value, TiersBucket = each.key })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true # the VPC-endpoint condition below keeps our policy non-public
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is decided by IAM and bucket policy only
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == "" ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn == "" ? null : var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != "" # fewer KMS calls (and cost) per object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # nginx cannot sign requests with the instance role, so the served buckets allow unsigned GETs, but
  # only through this VPC's S3 endpoint. AWS counts a policy pinned to aws:SourceVpce as non-public, so
  # Block Public Access stays fully on; from the internet the objects are reachable only via nginx.
  dynamic "statement" {
    for_each = contains(local.served, each.key) ? [each.value.arn] : []
    content {
      sid       = "ReadThroughVpcEndpoint"
      actions   = ["s3:GetObject"]
      resources = ["${statement.value}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceVpce"
        values   = [var.s3_endpoint_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = aws_s3_bucket.this
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# --- the nginx media host -----------------------------------------------------------------------------

data "aws_iam_policy_document" "media_read" {
  statement {
    sid       = "ListServedBuckets"
    actions   = ["s3:ListBucket"]
    resources = [for k in local.served : aws_s3_bucket.this[k].arn]
  }
  statement {
    sid       = "ReadServedObjects"
    actions   = ["s3:GetObject"]
    resources = [for k in local.served : "${aws_s3_bucket.this[k].arn}/*"]
  }
}

module "media_role" {
  source                 = "../node_role"
  name                   = "${var.name}-media"
  topology_parameter_arn = var.topology_parameter_arn
  policies               = { s3-read = data.aws_iam_policy_document.media_read.json }
  tags                   = var.tags
}

resource "aws_instance" "media" {
  #checkov:skip=CKV_AWS_88:browsers fetch /media and /static from it on its (Elastic) public address by design
  ebs_optimized = true
  #checkov:skip=CKV_AWS_126:basic (5-minute) EC2 monitoring; 1-minute detailed monitoring is billed per instance, enable it per host if wanted
  ami                    = var.ami_id
  instance_type          = var.media_instance_type
  subnet_id              = var.media_subnet_id
  vpc_security_group_ids = [var.media_security_group_id]
  iam_instance_profile   = module.media_role.instance_profile_name
  user_data              = var.media_user_data
  # An ephemeral public address from launch: first boot installs packages before the EIP attaches.
  associate_public_ip_address = true

  metadata_options {
    http_tokens            = "required" # IMDSv2 only
    instance_metadata_tags = "enabled"  # user_data reads TiersNode from the metadata service
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb # also holds nginx's on-disk media cache
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-media", TiersRole = "media", TiersNode = "media" })

  lifecycle {
    ignore_changes = [ami, user_data] # replace deliberately, never as a side effect of a new AMI
  }
}

resource "aws_eip" "media" {
  domain   = "vpc"
  instance = aws_instance.media.id
  tags     = merge(var.tags, { Name = "${var.name}-media" })
}
