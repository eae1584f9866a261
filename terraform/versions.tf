terraform {
  # 1.6: `terraform test` and the validation features the modules rely on.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    # Resolves ElastiCache node hostnames to the IP addresses the topology format requires.
    dns = {
      source  = "hashicorp/dns"
      version = "~> 3.4"
    }
  }
}
