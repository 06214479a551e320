provider "aws" {
  alias  = "primary"
  region = var.primary_region
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "secondary"
  region = var.secondary_region
  default_tags {
    tags = local.tags
  }
}

# The API token comes from CLOUDFLARE_API_TOKEN (zone: DNS, Load Balancing, Workers Routes;
# account: Workers Scripts, Workers KV, Load Balancing monitors and pools).
provider "cloudflare" {}
