# Every EC2 host boots the way templates/user_data.sh.tftpl expects: it reads its node name (the TiersNode
# tag) from the instance metadata service, so instance metadata tags must be on, and only IMDSv2 (session
# tokens) is allowed. Each module that creates instances is planned on its own with a mocked provider.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name                   = "tiers-test"
  ami_id                 = "ami-0123456789abcdef0"
  instance_type          = "t3.small"
  user_data              = "#!/bin/bash\n"
  security_group_id      = "sg-0123456789abcdef0"
  topology_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/tiers-test/topology.toml"
  secret_arn             = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiers-test/secrets-AbCdEf"
}

run "lb" {
  command = plan
  module {
    source = "./modules/lb"
  }
  variables {
    subnet_id = "subnet-0123456789abcdef0"
  }
  assert {
    condition     = aws_instance.lb.metadata_options[0].instance_metadata_tags == "enabled" && aws_instance.lb.metadata_options[0].http_tokens == "required"
    error_message = "The lb host needs instance metadata tags (user_data reads TiersNode) and IMDSv2 only."
  }
}

run "web" {
  command = plan
  module {
    source = "./modules/web"
  }
  variables {
    role        = "web"
    node_count  = 2
    read_secret = true
    subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    bucket_arns = ["arn:aws:s3:::tiers-test-media"]
  }
  assert {
    condition     = alltrue([for i in aws_instance.node : i.metadata_options[0].instance_metadata_tags == "enabled" && i.metadata_options[0].http_tokens == "required"])
    error_message = "Web and worker hosts need instance metadata tags (user_data reads TiersNode) and IMDSv2 only."
  }
}

run "media" {
  command = plan
  module {
    source = "./modules/storage"
  }
  variables {
    bucket_prefix           = "tiers-test-123456789012"
    s3_endpoint_id          = "vpce-0123456789abcdef0"
    media_instance_type     = "t3.small"
    media_subnet_id         = "subnet-0123456789abcdef0"
    media_security_group_id = "sg-0123456789abcdef0"
    media_user_data         = "#!/bin/bash\n"
  }
  assert {
    condition     = aws_instance.media.metadata_options[0].instance_metadata_tags == "enabled" && aws_instance.media.metadata_options[0].http_tokens == "required"
    error_message = "The media host needs instance metadata tags (user_data reads TiersNode) and IMDSv2 only."
  }
}

run "patroni_hosts" {
  command = plan
  module {
    source = "./modules/database"
  }
  variables {
    mode               = "patroni"
    subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    security_group_ids = { db = "sg-0123456789abcdef1", dbproxy = "sg-0123456789abcdef2", etcd = "sg-0123456789abcdef3", pgbouncer = "sg-0123456789abcdef4" }
    superuser_password = "x"
    backup_bucket_arn  = "arn:aws:s3:::acme-backup"
    node_count         = 3
    etcd_count         = 3
    node_instance_type = "t3.medium"
    user_data          = { db = "#!/bin/bash\n", etcd = "#!/bin/bash\n", dbproxy = "#!/bin/bash\n", pgbouncer = "#!/bin/bash\n" }
  }
  assert {
    condition     = alltrue([for i in aws_instance.node : i.metadata_options[0].instance_metadata_tags == "enabled" && i.metadata_options[0].http_tokens == "required"])
    error_message = "Database, etcd and dbproxy hosts need instance metadata tags (user_data reads TiersNode) and IMDSv2 only."
  }
}
