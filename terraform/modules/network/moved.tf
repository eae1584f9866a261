# The flow rules used to be keyed by hand-written names; they are now keyed by the role registry's flow
# names (<from>-<to>-<port>). These blocks move existing rules to their new keys, so an applied cluster
# updates them in place (new description and Name tag) instead of destroying them and creating
# duplicates, which AWS refuses. Safe to delete once every cluster has applied this version.

moved {
  from = aws_vpc_security_group_ingress_rule.flow["lb-web-http"]
  to   = aws_vpc_security_group_ingress_rule.flow["lb-web-8000"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["web-db-postgres"]
  to   = aws_vpc_security_group_ingress_rule.flow["web-db-5432"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["web-cache-memcache"]
  to   = aws_vpc_security_group_ingress_rule.flow["web-cache-11211"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["web-dbproxy-postgres"]
  to   = aws_vpc_security_group_ingress_rule.flow["web-dbproxy-5432"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["dbproxy-db-postgres"]
  to   = aws_vpc_security_group_ingress_rule.flow["dbproxy-db-5432"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["dbproxy-db-patroni"]
  to   = aws_vpc_security_group_ingress_rule.flow["dbproxy-db-8008"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["db-db-replication"]
  to   = aws_vpc_security_group_ingress_rule.flow["db-db-5432"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["db-db-patroni"]
  to   = aws_vpc_security_group_ingress_rule.flow["db-db-8008"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["db-etcd-client"]
  to   = aws_vpc_security_group_ingress_rule.flow["db-etcd-2379"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["etcd-etcd-client"]
  to   = aws_vpc_security_group_ingress_rule.flow["etcd-etcd-2379"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.flow["etcd-etcd-peer"]
  to   = aws_vpc_security_group_ingress_rule.flow["etcd-etcd-2380"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["lb-web-http"]
  to   = aws_vpc_security_group_egress_rule.flow["lb-web-8000"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["web-db-postgres"]
  to   = aws_vpc_security_group_egress_rule.flow["web-db-5432"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["web-cache-memcache"]
  to   = aws_vpc_security_group_egress_rule.flow["web-cache-11211"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["web-dbproxy-postgres"]
  to   = aws_vpc_security_group_egress_rule.flow["web-dbproxy-5432"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["dbproxy-db-postgres"]
  to   = aws_vpc_security_group_egress_rule.flow["dbproxy-db-5432"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["dbproxy-db-patroni"]
  to   = aws_vpc_security_group_egress_rule.flow["dbproxy-db-8008"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["db-db-replication"]
  to   = aws_vpc_security_group_egress_rule.flow["db-db-5432"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["db-db-patroni"]
  to   = aws_vpc_security_group_egress_rule.flow["db-db-8008"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["db-etcd-client"]
  to   = aws_vpc_security_group_egress_rule.flow["db-etcd-2379"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["etcd-etcd-client"]
  to   = aws_vpc_security_group_egress_rule.flow["etcd-etcd-2379"]
}

moved {
  from = aws_vpc_security_group_egress_rule.flow["etcd-etcd-peer"]
  to   = aws_vpc_security_group_egress_rule.flow["etcd-etcd-2380"]
}
