variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "aybiza"
}

variable "environment" {
  description = "Environment tag (prod, staging)."
  type        = string
  default     = "prod"
}

variable "primary_region" {
  description = "AWS region of the primary database (global configuration is written there)."
  type        = string
  default     = "us-east-1"
}

variable "secondary_region" {
  description = "AWS region of the second active region (a read replica for configuration)."
  type        = string
  default     = "eu-west-1"
}

variable "primary_cidr" {
  description = "VPC network of the primary region."
  type        = string
  default     = "10.10.0.0/16"
}

variable "secondary_cidr" {
  description = "VPC network of the secondary region (must not overlap the primary's)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "images" {
  description = "AYBIZA image per AWS region (each region's ECR repository URI with the same tag)."
  type        = map(string)
}

variable "certificate_arns" {
  description = "ACM certificate per AWS region for the region's origin hostname."
  type        = map(string)
}

variable "cloudflare_account_id" {
  description = "Cloudflare account holding the Workers, KV namespaces and load balancing pools."
  type        = string
}

variable "cloudflare_zone_id" {
  description = "Cloudflare zone of the hostnames below."
  type        = string
}

variable "api_hostname" {
  description = "Hostname of the REST API (Cloudflare load balancer, auth-validator in front)."
  type        = string
}

variable "voice_hostname" {
  description = "Hostname carriers call (webhooks, media streams): the voice-router Worker."
  type        = string
}

variable "origin_domain" {
  description = "Domain under which each region's origin gets a name (<region>.<origin_domain>)."
  type        = string
}

variable "region_countries" {
  description = "Callers' countries (ISO 3166 alpha-2) each AWS region serves first; the voice-router's table."
  type        = map(list(string))
  default = {
    "us-east-1" = ["US", "CA", "MX", "BR"]
    "eu-west-1" = ["GB", "IE", "FR", "DE", "ES", "IT", "NL"]
  }
}

variable "edge_bundles_dir" {
  description = "Where each Worker's bundle is (<dir>/<worker>/dist/index.js, built by `npm run build` in edge/)."
  type        = string
  default     = "../../edge"
}

variable "sip_carrier_cidrs" {
  description = "Networks of the SIP trunks allowed to reach the NLBs."
  type        = list(string)
  default     = []
}

variable "engine_secret_names" {
  description = "Names of the engine and carrier secrets (environment variables of the tasks)."
  type        = list(string)
  default     = ["TWILIO_AUTH_TOKEN", "DEEPGRAM_API_KEY"]
}

variable "engine_secrets" {
  description = "Values of engine_secret_names."
  type        = map(string)
  sensitive   = true
}

variable "alarm_email" {
  description = "Address that receives the Prometheus alerts of both regions (null for none)."
  type        = string
  default     = null
}

variable "availability_zones" {
  description = "Availability zones of each AWS region, by name."
  type        = map(list(string))
  default = {
    "us-east-1" = ["us-east-1a", "us-east-1b", "us-east-1c"]
    "eu-west-1" = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  }
}
