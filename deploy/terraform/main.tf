# AYBIZA in two AWS regions, active-active, behind Cloudflare (cloudflare.tf). The region
# module is instantiated once per region: the primary holds the PostgreSQL primary, the
# secondary a cross-region read replica of it; both run the same services.
locals {
  tags = {
    "aybiza:environment" = var.environment
    "managed-by"         = "terraform"
  }
  regions = {
    primary   = { aws_region = var.primary_region, cidr = var.primary_cidr }
    secondary = { aws_region = var.secondary_region, cidr = var.secondary_cidr }
  }
}

# Shared by both regions: the database user's password (the replica copies the user) and the
# key that seals tenants' credentials in the global database.
resource "random_password" "database" {
  length  = 40
  special = false
}

resource "random_id" "secret_key" {
  byte_length = 32
}

data "cloudflare_ip_ranges" "edge" {}

module "primary" {
  source    = "./modules/region"
  providers = { aws = aws.primary }

  name                    = "${var.name}-${var.environment}"
  region_label            = var.primary_region
  cidr_block              = var.primary_cidr
  availability_zones      = var.availability_zones[var.primary_region]
  peer_cidr_blocks        = [var.secondary_cidr]
  image                   = var.images[var.primary_region]
  certificate_arn         = var.certificate_arns[var.primary_region]
  public_url              = "https://${var.voice_hostname}"
  edge_ingress_cidrs      = data.cloudflare_ip_ranges.edge.ipv4_cidrs
  sip_carrier_cidrs       = var.sip_carrier_cidrs
  database_password       = random_password.database.result
  secret_key              = random_id.secret_key.b64_url
  engine_secret_names     = var.engine_secret_names
  engine_secrets          = var.engine_secrets
  alarm_email             = var.alarm_email
  tags                    = local.tags
}

module "secondary" {
  source    = "./modules/region"
  providers = { aws = aws.secondary }

  name                     = "${var.name}-${var.environment}"
  region_label             = var.secondary_region
  cidr_block               = var.secondary_cidr
  availability_zones       = var.availability_zones[var.secondary_region]
  peer_cidr_blocks         = [var.primary_cidr]
  image                    = var.images[var.secondary_region]
  certificate_arn          = var.certificate_arns[var.secondary_region]
  public_url               = "https://${var.voice_hostname}"
  edge_ingress_cidrs       = data.cloudflare_ip_ranges.edge.ipv4_cidrs
  sip_carrier_cidrs        = var.sip_carrier_cidrs
  database_password        = random_password.database.result
  database_source_arn      = module.primary.database_arn
  primary_database_address = module.primary.database_address
  secret_key               = random_id.secret_key.b64_url
  engine_secret_names      = var.engine_secret_names
  engine_secrets           = var.engine_secrets
  alarm_email              = var.alarm_email
  tags                     = local.tags
}
