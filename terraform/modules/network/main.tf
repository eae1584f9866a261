# The VPC of one Tiers cluster and the security groups that encode every allowed tier-to-tier flow.
# The flows are one table, the role registry's tiers_flows (terraform/roles.tf.json, generated from
# deploy/roles/), so the network policy is read and reviewed in one place; this module only applies it.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:the first var.az_count zones by name; a zone AWS adds later sorts after them or is never used
  state = "available"
}

data "aws_region" "current" {}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  # /20 subnets: public ones from the start of the VPC range, private ones from its second half.
  newbits         = 20 - tonumber(split("/", var.vpc_cidr)[1])
  private_offset  = pow(2, local.newbits) / 2
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, local.newbits, i)]
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, local.newbits, i + local.private_offset)]
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:flow logs cost per GB and need a log group and role; enable them per account (terraform/README.md)
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # RDS and ElastiCache endpoints resolve inside the VPC
  tags                 = merge(var.tags, { Name = var.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count                   = length(local.azs)
  vpc_id                  = aws_vpc.this.id
  cidr_block              = local.public_subnets[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false # only the lb and media hosts get (elastic) public addresses
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count             = length(local.azs)
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_subnets[count.index]
  availability_zone = local.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One NAT gateway: private hosts need outbound HTTPS for Debian packages, the release and AWS APIs.
# A single NAT is a cost/availability trade-off: losing its AZ stops installs, not serving traffic.
resource "aws_eip" "nat" {
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat" })
}

resource "aws_nat_gateway" "this" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(var.tags, { Name = var.name })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route" "private_nat" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this.id
}

resource "aws_route_table_association" "private" {
  count          = length(aws_subnet.private)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# S3 gateway endpoint: S3 traffic from the hosts that reach S3 (web, worker, media) stays inside AWS (no
# NAT charges), and the media buckets' policy admits reads only through this endpoint.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public.id, aws_route_table.private.id]
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

# --- security groups ---------------------------------------------------------------------------------
# Every fact below comes from the role registry (deploy/roles/, generated into terraform/roles.tf.json and
# passed in by the root module as var.roles and var.flows); nothing here names a role.
locals {
  # One group per role the root passes, whatever the mode: roles absent in this mode (etcd and dbproxy
  # under RDS) keep an unused, rule-less group, so switching modes never renames or recreates groups.
  # Groups carry no inline rules, so the rule resources below own them all.
  roles = toset(keys(var.roles))

  # Tier-to-tier flows of this mode: traffic from the `from` group to the `to` group on `port`. Each
  # becomes an egress rule on `from` and an ingress rule on `to`.
  flows = {
    for name, f in var.flows : name => { from = f.from, to = f.to, port = f.port, why = f.why }
    if contains(f.modes, var.database_mode)
  }

  # Roles with EC2 hosts of ours in this mode (managed services need no outbound rules).
  instance_roles = sort([for role, r in var.roles : role if contains(r.instances_in, var.database_mode)])

  # Outbound to the internet through the NAT (or the IGW for public hosts): Debian mirrors (80/443),
  # the release source and AWS APIs (SSM, Secrets Manager) over 443.
  outbound = merge([
    for role in local.instance_roles : {
      "${role}-https" = { role = role, port = 443 }
      "${role}-http"  = { role = role, port = 80 }
    }
  ]...)

  # Hosts that read or write the buckets: HTTPS to S3's prefix list (the gateway endpoint).
  s3_roles = toset([for role in local.instance_roles : role if var.roles[role].reaches_s3])

  # Public roles reachable from allowed_http_cidrs (a missing port is reported by the groups' precondition).
  public_roles = sort([for role, r in var.roles : role if r.public && contains(r.exists_in, var.database_mode)])
  public_ingress = merge(flatten([
    for cidr in var.allowed_http_cidrs : [
      for role in local.public_roles : {
        for port in lookup(var.public_ports, role, []) : "${role}-${port}-${cidr}" => { role = role, port = port, cidr = cidr }
      }
    ]
  ])...)
}

# The VPC's default group admits traffic from its own members and lets everything out; nothing here uses
# it, and an instance that fell back to it would be wide open to its peers. Managed with no rules: closed.
resource "aws_default_security_group" "closed" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_security_group" "role" {
  #checkov:skip=CKV2_AWS_5:one group per role in both modes, so the roles absent in this mode (etcd, dbproxy under RDS) keep an unused one
  for_each = local.roles
  # A prefix, not a fixed name: create_before_destroy makes the replacement before deleting the old group,
  # and two groups of one VPC cannot share a name.
  name_prefix = "${var.name}-${each.key}-"
  description = "Tiers ${each.key} tier of ${var.name}"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-${each.key}", Role = each.key })

  lifecycle {
    create_before_destroy = true
    # Checked here, before any rule indexes a group: a clear message instead of an "invalid key" error.
    precondition {
      condition     = alltrue([for f in values(var.flows) : contains(keys(var.roles), f.from) && contains(keys(var.roles), f.to)])
      error_message = "Every flow must run between roles in var.roles (flows to the object store go through var.roles' reaches_s3, not var.flows)."
    }
    precondition {
      condition     = alltrue([for role, r in var.roles : contains(keys(var.public_ports), role) if r.public])
      error_message = "Every public role needs its ports in var.public_ports."
    }
  }
}

locals {
  role_of_group = { for role, sg in aws_security_group.role : sg.id => role }
}

resource "aws_vpc_security_group_ingress_rule" "flow" {
  for_each                     = local.flows
  security_group_id            = aws_security_group.role[each.value.to].id
  referenced_security_group_id = aws_security_group.role[each.value.from].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = each.value.why
  tags                         = merge(var.tags, { Name = each.key })
}

resource "aws_vpc_security_group_egress_rule" "flow" {
  for_each                     = local.flows
  security_group_id            = aws_security_group.role[each.value.from].id
  referenced_security_group_id = aws_security_group.role[each.value.to].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = each.value.why
  tags                         = merge(var.tags, { Name = each.key })
}

resource "aws_vpc_security_group_ingress_rule" "public" {
  for_each          = local.public_ingress
  security_group_id = aws_security_group.role[each.value.role].id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  description       = "site traffic from allowed clients"
  tags              = merge(var.tags, { Name = each.key })
}

# Hosts that reach S3 do so through the gateway endpoint; the prefix list names S3's ranges.
resource "aws_vpc_security_group_egress_rule" "s3" {
  for_each          = local.s3_roles
  security_group_id = aws_security_group.role[each.key].id
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "S3 over HTTPS through the VPC gateway endpoint"
  tags              = merge(var.tags, { Name = "${each.key}-s3" })
}

resource "aws_vpc_security_group_egress_rule" "outbound" {
  for_each          = local.outbound
  security_group_id = aws_security_group.role[each.value.role].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  description       = "packages, release source and AWS APIs"
  tags              = merge(var.tags, { Name = each.key })
}
