output "vpc_id" {
  description = "The region's VPC."
  value       = aws_vpc.this.id
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets (routes to the peered regions go here)."
  value       = aws_route_table.private[*].id
}

output "database_arn" {
  description = "ARN of the region's database instance (the primary's is the replicas' source)."
  value       = aws_db_instance.this.arn
}

output "database_address" {
  description = "Host name of the region's database instance."
  value       = aws_db_instance.this.address
}

output "alb_dns_name" {
  description = "The ALB's name: the origin of the edge's pool for this region."
  value       = aws_lb.http.dns_name
}

output "nlb_dns_name" {
  description = "The NLB's name: the SIP trunks' target in this region."
  value       = aws_lb.sip.dns_name
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "prometheus_endpoint" {
  description = "The region's Prometheus workspace (query it from Grafana)."
  value       = aws_prometheus_workspace.this.prometheus_endpoint
}
