# The IAM identity of one node role: SSM Session Manager (no SSH keys, no open port 22), read access
# to the topology parameter, the cluster secret (roles the registry gives secrets: web, worker, db), plus
# the role's own policies (S3 for web, worker and media).

data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "boot" {
  dynamic "statement" {
    for_each = var.read_secret ? [var.secret_arn] : []
    content {
      sid       = "ReadClusterSecret"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [statement.value]
    }
  }
  statement {
    sid       = "ReadTopology"
    actions   = ["ssm:GetParameter"]
    resources = [var.topology_parameter_arn]
  }
}

resource "aws_iam_role_policy" "boot" {
  name   = "boot"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.boot.json
}

resource "aws_iam_role_policy" "extra" {
  for_each = var.policies
  name     = each.key
  role     = aws_iam_role.this.id
  policy   = each.value
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name
  tags = var.tags
}
