# `terraform test` with a mocked AWS provider: no account, no network. Applies the root module in both
# database modes and checks what no `validate` sees: the topology the hosts receive, against the security
# groups that must let its traffic through and against the instances it names. Run by `make tf-check`
# and tests/unit/test_terraform.py.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::tiers-test-bucket" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiers-test/secrets-AbCdEf" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name          = "tiers-test"
  bucket_prefix = "tiers-test-123456789012"
  release_repo  = "https://example.com/tiers.git"
  ami_id        = "ami-0123456789abcdef0"
  web_count     = 2
  worker_count  = 1
}

# Known addresses for the hosts the assertions tell apart (a mock invents random strings otherwise).
override_resource {
  target = module.lb.aws_instance.lb
  values = { private_ip = "10.40.0.10" }
}
override_resource {
  target = module.lb.aws_eip.lb
  values = { public_ip = "203.0.113.10" }
}
override_resource {
  target = module.storage.aws_instance.media
  values = { private_ip = "10.40.16.20" }
}
override_resource {
  target = module.storage.aws_eip.media
  values = { public_ip = "203.0.113.20" }
}
override_resource {
  target = module.cache.aws_elasticache_cluster.this
  values = {
    cache_nodes = [
      { id = "0001", address = "tiers-test-cache.abc.0001.euw1.cache.amazonaws.com", port = 11211, availability_zone = "eu-west-1a", outpost_arn = "" },
    ]
  }
}

run "patroni_mode" {
  command = apply
  variables {
    database_mode = "patroni"
  }

  # Security groups <-> topology: every flow the tiers need has a rule, on the port the topology's nodes
  # of the receiving role listen on (a removed rule, or 8080 in the rules and 8000 in the topology, fails).
  assert {
    condition = alltrue([for need in [
      ["lb", "web", "port"], ["lb", "web", "check_port"], ["web", "dbproxy", "port"], ["worker", "dbproxy", "port"],
      ["web", "db", "port"], ["worker", "db", "port"], ["dbproxy", "db", "port"], ["dbproxy", "db", "rest_port"],
      ["db", "db", "port"], ["db", "db", "rest_port"], ["db", "etcd", "port"], ["etcd", "etcd", "peer_port"],
      ["web", "cache", "port"], ["worker", "cache", "port"],
      ] : anytrue([for r in values(output.security_rules) :
        r.from == need[0] && r.to == need[1] && alltrue([for n in output.topology.nodes[need[1]] : n[need[2]] == r.port])
    ])])
    error_message = "A flow the topology needs has no security-group rule on the port its nodes listen on."
  }
  # ... and no rule opens a port nothing in the topology listens on.
  assert {
    condition = alltrue([for r in values(output.security_rules) : alltrue([
      for n in output.topology.nodes[r.to] : contains([for k, v in n : v if endswith(k, "port")], r.port)
    ])])
    error_message = "A security-group rule opens a port the receiving role's nodes do not listen on."
  }

  # Outputs -> topology: each node is the host of its own name.
  assert {
    condition     = output.topology.nodes.media[0].address == "10.40.16.20" && output.topology.nodes.lb[0].address == "10.40.0.10"
    error_message = "The topology's media and lb addresses must be those hosts' private IPs."
  }
  assert {
    condition     = [for n in output.topology.nodes.web : n.address] == [for n in output.web_nodes : n.private_ip]
    error_message = "The topology's web nodes must be the web instances, in order."
  }
  assert {
    condition     = [for n in output.topology.nodes.worker : n.name] == ["worker1"]
    error_message = "Worker hosts must be in the topology."
  }
  assert {
    condition     = output.topology.storage.private_bucket == "tiers-test-123456789012-private"
    error_message = "The private bucket must be in the topology."
  }
  # Public names: what browsers use becomes ALLOWED_HOSTS (public_host) and the media URLs (public_url).
  assert {
    condition     = output.topology.nodes.lb[0].public_host == "203.0.113.10"
    error_message = "[lb] public_host must be the site's public name (site_domain or the lb's Elastic IP)."
  }
  assert {
    condition     = output.topology.nodes.media[0].public_url == "https://203.0.113.20"
    error_message = "[media] public_url must be https:// and the media host's public name (media_domain or its Elastic IP)."
  }
  # nginx reaches S3 over HTTPS by name, through a resolver.
  assert {
    condition = (output.topology.nodes.s3[0].port == 443 && output.topology.nodes.s3[0].managed
    && output.topology.nodes.media[0].resolver != "")
    error_message = "S3 must be a managed HTTPS endpoint and the media host needs a resolver for it."
  }
  assert {
    condition     = output.topology.database.client_networks == module.network.private_subnet_cidrs
    error_message = "pg_hba must admit the private subnets (new nodes need no database change)."
  }
  assert {
    condition     = length(output.topology.nodes.etcd) == 3 && output.topology.nodes.db[0].role == "primary"
    error_message = "Patroni mode: etcd members and db1 as the bootstrap primary."
  }
  assert {
    condition     = output.topology_parameter == "/tiers-test/topology.toml" && aws_ssm_parameter.topology.value == output.topology_toml
    error_message = "The topology must be published to its SSM parameter in both modes."
  }
  # Letters and digits only: uWSGI expands % (and $(, @() in env lines, RDS refuses / @ " and spaces.
  assert {
    condition = alltrue([for k, p in data.aws_secretsmanager_random_password.cluster :
    p.exclude_punctuation == true && p.include_space == false])
    error_message = "Generated secrets must be letters and digits (uWSGI expands %, $( and @( in env lines)."
  }
}

run "rds_mode" {
  command = apply
  variables {
    database_mode    = "rds"
    db_replica_count = 2
    site_domain      = "shop.example.com"
    media_domain     = "media.example.com"
  }

  assert {
    condition     = output.topology_parameter == "/tiers-test/topology.toml" && aws_ssm_parameter.topology.value == output.topology_toml
    error_message = "RDS mode must publish a topology too."
  }
  assert {
    condition = ([for n in output.topology.nodes.db : n.address] == concat([output.database_writer_endpoint], output.database_reader_endpoints)
    && alltrue([for n in output.topology.nodes.db : n.managed]))
    error_message = "RDS: db1 is the writer endpoint and db2.. the read replicas' endpoints, all managed."
  }
  assert {
    condition     = output.topology.nodes.dbproxy[0].address == output.database_writer_endpoint && length(output.topology.nodes.etcd) == 0
    error_message = "RDS: writes go to the writer endpoint; no etcd."
  }
  assert {
    condition     = [for n in output.topology.nodes.cache : n.address] == ["tiers-test-cache.abc.0001.euw1.cache.amazonaws.com"]
    error_message = "Cache nodes are the ElastiCache nodes' DNS names."
  }
  assert {
    condition     = output.topology.nodes.lb[0].public_host == "shop.example.com" && output.topology.nodes.media[0].public_url == "https://media.example.com"
    error_message = "site_domain and media_domain must become public_host and public_url."
  }
  assert {
    condition     = anytrue([for r in values(output.security_rules) : r.from == "web" && r.to == "db" && r.port == output.topology.nodes.db[0].port])
    error_message = "RDS: web nodes must reach the database endpoints' port."
  }
}
