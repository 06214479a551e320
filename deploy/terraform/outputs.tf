output "api_url" {
  description = "The API, load balanced over both regions."
  value       = "https://${var.api_hostname}"
}

output "voice_url" {
  description = "AYBIZA_PUBLIC_URL of both regions: carriers' webhooks and media streams go here."
  value       = "https://${var.voice_hostname}"
}

output "sip_targets" {
  description = "Each region's NLB, for the SIP trunks."
  value = {
    (var.primary_region)   = module.primary.nlb_dns_name
    (var.secondary_region) = module.secondary.nlb_dns_name
  }
}

output "prometheus_endpoints" {
  description = "Each region's Prometheus workspace (Grafana data sources for deploy/grafana)."
  value = {
    (var.primary_region)   = module.primary.prometheus_endpoint
    (var.secondary_region) = module.secondary.prometheus_endpoint
  }
}
