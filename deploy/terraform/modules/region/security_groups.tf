resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "HTTPS from the edge (Cloudflare) to the ALB"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.edge_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS and WebSocket from the edge"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the server tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_security_group" "nlb" {
  name        = "${var.name}-nlb"
  description = "SIP signalling from the trunks to the NLB"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

locals {
  # protocol, port: the SIP listeners of the NLB and the task ports behind them.
  sip_ports = {
    udp = { protocol = "udp", port = 5060 }
    tcp = { protocol = "tcp", port = 5060 }
    tls = { protocol = "tcp", port = 5061 }
  }
  sip_rules = { for pair in setproduct(keys(local.sip_ports), var.sip_carrier_cidrs) : "${pair[0]}-${pair[1]}" => {
    protocol = local.sip_ports[pair[0]].protocol
    port     = local.sip_ports[pair[0]].port
    cidr     = pair[1]
  } }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_sip" {
  for_each          = local.sip_rules
  security_group_id = aws_security_group.nlb.id
  description       = "SIP from a trunk"
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks" {
  for_each                     = { sip = 5060, tls = 5061, health = 8080 }
  security_group_id            = aws_security_group.nlb.id
  description                  = "To the server tasks (SIP and health checks)"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks_udp" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "SIP over UDP to the server tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "udp"
  from_port                    = 5060
  to_port                      = 5060
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Server and worker tasks"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "HTTP and WebSocket from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_ingress_rule" "tasks_health_from_nlb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "NLB health checks"
  referenced_security_group_id = aws_security_group.nlb.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

# The NLB keeps the trunk's address as the source (SIP answers to it): the tasks admit the
# trunks' networks themselves.
resource "aws_vpc_security_group_ingress_rule" "tasks_sip" {
  for_each          = local.sip_rules
  security_group_id = aws_security_group.tasks.id
  description       = "SIP from a trunk, through the NLB"
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "Engines, carriers, webhooks, AWS APIs (HTTPS)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "tasks_database" {
  for_each          = toset(concat([var.cidr_block], var.peer_cidr_blocks))
  security_group_id = aws_security_group.tasks.id
  description       = "PostgreSQL, in this region or the primary's over the peering"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
}

resource "aws_vpc_security_group_egress_rule" "tasks_redis" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Redis"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "PostgreSQL from the tasks of every region"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "database_from_tasks" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from this region's tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "database_from_peers" {
  for_each          = toset(var.peer_cidr_blocks)
  security_group_id = aws_security_group.database.id
  description       = "PostgreSQL from another region's tasks (writes to the primary)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis from the tasks"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from this region's tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
