# State moves for clusters applied with earlier versions of this module. Safe to delete once every cluster
# has applied this version.

# The topology parameter exists in both database modes now (it had count = 0 under RDS).
moved {
  from = aws_ssm_parameter.topology[0]
  to   = aws_ssm_parameter.topology
}

# Secrets came from the random provider (not mirrored here); the stored secret keeps its values (the secret
# version ignores changes to them), so the old generators are forgotten, not destroyed.
removed {
  from = random_password.db
  lifecycle {
    destroy = false
  }
}

removed {
  from = random_password.django_secret_key
  lifecycle {
    destroy = false
  }
}
