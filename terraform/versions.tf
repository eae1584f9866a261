terraform {
  # 1.6: `terraform test` and the validation features the modules rely on.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }
}
