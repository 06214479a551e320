# The edge (Cloudflare): each region's origin gets a name; the API hostname is a Cloudflare
# load balancer over both regions' ALBs, health-checked on /readyz; the three Workers of edge/
# run on it: the voice-router on the carriers' hostname (it picks a region per call from the
# region table and the regions' health), the auth-validator in front of the API, and the
# cache-manager, reached by the voice-router through a service binding.
locals {
  region_modules = {
    (var.primary_region)   = { alb = module.primary.alb_dns_name }
    (var.secondary_region) = { alb = module.secondary.alb_dns_name }
  }
  origin_hostnames = { for region in keys(local.region_modules) : region => "${region}.${var.origin_domain}" }
  # The voice-router's region table: where each region is reached and whose callers it serves.
  region_table = jsonencode([
    for region in keys(local.region_modules) : {
      name      = region
      origin    = "https://${local.origin_hostnames[region]}"
      countries = lookup(var.region_countries, region, [])
    }
  ])
  compatibility_date = "2025-09-01"
}

resource "cloudflare_dns_record" "origin" {
  for_each = local.region_modules
  zone_id  = var.cloudflare_zone_id
  name     = local.origin_hostnames[each.key]
  type     = "CNAME"
  content  = each.value.alb
  proxied  = true
  ttl      = 1
  comment  = "AYBIZA origin in ${each.key}"
}

# The carriers' hostname has no origin of its own: the voice-router Worker answers it.
resource "cloudflare_dns_record" "voice" {
  zone_id = var.cloudflare_zone_id
  name    = var.voice_hostname
  type    = "AAAA"
  content = "100::"
  proxied = true
  ttl     = 1
  comment = "AYBIZA voice-router (Worker route)"
}

resource "cloudflare_load_balancer_monitor" "readyz" {
  account_id       = var.cloudflare_account_id
  description      = "AYBIZA /readyz (503 while draining or without its database)"
  type             = "https"
  method           = "GET"
  path             = "/readyz"
  expected_codes   = "200"
  interval         = 15
  timeout          = 5
  retries          = 1
  follow_redirects = false
  allow_insecure   = false
  header = {
    Host = [var.api_hostname]
  }
}

resource "cloudflare_load_balancer_pool" "region" {
  for_each        = local.region_modules
  account_id      = var.cloudflare_account_id
  name            = "${var.name}-${var.environment}-${each.key}"
  description     = "AYBIZA servers in ${each.key}"
  monitor         = cloudflare_load_balancer_monitor.readyz.id
  minimum_origins = 1
  origins = [{
    name    = each.key
    address = each.value.alb
    enabled = true
    weight  = 1
    header = {
      host = [var.api_hostname]
    }
  }]
}

resource "cloudflare_load_balancer" "api" {
  zone_id          = var.cloudflare_zone_id
  name             = var.api_hostname
  description      = "AYBIZA API over both regions"
  proxied          = true
  steering_policy  = "dynamic_latency"
  session_affinity = "none"
  default_pools    = [for region in keys(local.region_modules) : cloudflare_load_balancer_pool.region[region].id]
  fallback_pool    = cloudflare_load_balancer_pool.region[var.secondary_region].id
  adaptive_routing = {
    failover_across_pools = true
  }
}

resource "cloudflare_workers_kv_namespace" "agent_cache" {
  account_id = var.cloudflare_account_id
  title      = "${var.name}-${var.environment}-agent-cache"
}

resource "cloudflare_workers_kv_namespace" "api_keys" {
  account_id = var.cloudflare_account_id
  title      = "${var.name}-${var.environment}-api-keys"
}

resource "cloudflare_workers_script" "cache_manager" {
  account_id         = var.cloudflare_account_id
  script_name        = "${var.name}-${var.environment}-cache-manager"
  main_module        = "index.js"
  content_file       = "${var.edge_bundles_dir}/cache-manager/dist/index.js"
  content_sha256     = filesha256("${var.edge_bundles_dir}/cache-manager/dist/index.js")
  compatibility_date = local.compatibility_date
  bindings = [
    { name = "AGENT_CACHE", type = "kv_namespace", namespace_id = cloudflare_workers_kv_namespace.agent_cache.id },
  ]
}

resource "cloudflare_workers_script" "voice_router" {
  account_id         = var.cloudflare_account_id
  script_name        = "${var.name}-${var.environment}-voice-router"
  main_module        = "index.js"
  content_file       = "${var.edge_bundles_dir}/voice-router/dist/index.js"
  content_sha256     = filesha256("${var.edge_bundles_dir}/voice-router/dist/index.js")
  compatibility_date = local.compatibility_date
  bindings = [
    { name = "REGIONS", type = "plain_text", text = local.region_table },
    { name = "REGION_HEALTH", type = "durable_object_namespace", class_name = "RegionHealth" },
    { name = "CACHE", type = "service", service = cloudflare_workers_script.cache_manager.script_name },
  ]
  migrations = {
    new_tag            = "v1"
    new_sqlite_classes = ["RegionHealth"]
  }
}

resource "cloudflare_workers_script" "auth_validator" {
  account_id         = var.cloudflare_account_id
  script_name        = "${var.name}-${var.environment}-auth-validator"
  main_module        = "index.js"
  content_file       = "${var.edge_bundles_dir}/auth-validator/dist/index.js"
  content_sha256     = filesha256("${var.edge_bundles_dir}/auth-validator/dist/index.js")
  compatibility_date = local.compatibility_date
  bindings = [
    { name = "API_KEYS", type = "kv_namespace", namespace_id = cloudflare_workers_kv_namespace.api_keys.id },
    { name = "KEY_LIMITER", type = "durable_object_namespace", class_name = "KeyRateLimiter" },
  ]
  migrations = {
    new_tag            = "v1"
    new_sqlite_classes = ["KeyRateLimiter"]
  }
}

resource "cloudflare_workers_route" "voice_router" {
  zone_id = var.cloudflare_zone_id
  pattern = "${var.voice_hostname}/*"
  script  = cloudflare_workers_script.voice_router.script_name
}

resource "cloudflare_workers_route" "auth_validator" {
  zone_id = var.cloudflare_zone_id
  pattern = "${var.api_hostname}/v1/*"
  script  = cloudflare_workers_script.auth_validator.script_name
}
