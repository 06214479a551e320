# The secondary region's servers write to the primary database (calls, turns, admission
# counts) over a VPC peering; DNS resolves the primary's endpoint to its private address.
resource "aws_vpc_peering_connection" "regions" {
  provider    = aws.primary
  vpc_id      = module.primary.vpc_id
  peer_vpc_id = module.secondary.vpc_id
  peer_region = var.secondary_region
  auto_accept = false
  tags        = { Name = "${var.name}-${var.environment}-regions" }
}

resource "aws_vpc_peering_connection_accepter" "regions" {
  provider                  = aws.secondary
  vpc_peering_connection_id = aws_vpc_peering_connection.regions.id
  auto_accept               = true
  tags                      = { Name = "${var.name}-${var.environment}-regions" }
}

resource "aws_vpc_peering_connection_options" "requester" {
  provider                  = aws.primary
  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.regions.id
  requester {
    allow_remote_vpc_dns_resolution = true
  }
}

resource "aws_vpc_peering_connection_options" "accepter" {
  provider                  = aws.secondary
  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.regions.id
  accepter {
    allow_remote_vpc_dns_resolution = true
  }
}

resource "aws_route" "primary_to_secondary" {
  provider                  = aws.primary
  count                     = length(var.availability_zones[var.primary_region])
  route_table_id            = module.primary.private_route_table_ids[count.index]
  destination_cidr_block    = var.secondary_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.regions.id
}

resource "aws_route" "secondary_to_primary" {
  provider                  = aws.secondary
  count                     = length(var.availability_zones[var.secondary_region])
  route_table_id            = module.secondary.private_route_table_ids[count.index]
  destination_cidr_block    = var.primary_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.regions.id
}
