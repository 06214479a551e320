variable "name" {
  description = "Prefix of every resource name (e.g. aybiza-prod)."
  type        = string
}

variable "region_label" {
  description = "The region's name as the platform and its metrics call it (the AWS region, e.g. us-east-1)."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's network; regions must not overlap (they are peered)."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones used, by name (a public and a private subnet and a NAT gateway in each)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6
    error_message = "availability_zones: between 2 and 6 zones."
  }
}

variable "peer_cidr_blocks" {
  description = "The other regions' VPC networks: their servers reach this region's database over the peering."
  type        = list(string)
  default     = []
}

variable "image" {
  description = "The AYBIZA image (this region's ECR repository URI with an immutable tag)."
  type        = string
}

variable "adot_image" {
  description = "AWS Distro for OpenTelemetry collector image (the task's sidecar)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "public_url" {
  description = "AYBIZA_PUBLIC_URL: the base URL carriers use for this region (through the edge)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the region's origin hostname, for the ALB's HTTPS listener."
  type        = string
}

variable "edge_ingress_cidrs" {
  description = "Networks allowed to the ALB: Cloudflare's edge (the voice-router, the load balancer)."
  type        = list(string)
}

variable "sip_carrier_cidrs" {
  description = "Networks of the SIP trunks allowed to the NLB's SIP listeners."
  type        = list(string)
  default     = []
}

variable "database_password" {
  description = "Password of the database's aybiza user (the primary's; replicas inherit it)."
  type        = string
  sensitive   = true
}

variable "database_source_arn" {
  description = "ARN of the primary database this region replicates; null in the primary region."
  type        = string
  default     = null
}

variable "primary_database_address" {
  description = "Host name of the primary database (writes go there); null in the primary region."
  type        = string
  default     = null
}

variable "database_instance_class" {
  description = "RDS instance class of the primary or the replica (2 x 10,000 calls write ~10,000 rows/s: docs/scaling.md)."
  type        = string
  default     = "db.r6g.2xlarge"
}

variable "redis_node_type" {
  description = "ElastiCache node type (rate-limit counters, workflow queue)."
  type        = string
  default     = "cache.r7g.large"
}

variable "secret_key" {
  description = "AYBIZA_SECRET_KEY: the same in every region (sealed credentials live in the global database)."
  type        = string
  sensitive   = true
}

variable "engine_secret_names" {
  description = "Names of the engine and carrier secrets passed to the tasks as environment variables."
  type        = list(string)
  default     = ["TWILIO_AUTH_TOKEN", "DEEPGRAM_API_KEY"]
}

variable "engine_secrets" {
  description = "Values of engine_secret_names (Twilio auth token, Deepgram key, ...)."
  type        = map(string)
  sensitive   = true
}

variable "server_cpu" {
  description = "CPU units of a server task: 1024 = one vCPU, one server process."
  type        = number
  default     = 1024
}

variable "server_memory" {
  description = "Memory (MiB) of a server task."
  type        = number
  default     = 2048
}

variable "server_min_tasks" {
  description = "Server tasks kept running whatever the load."
  type        = number
  default     = 4
}

variable "server_max_tasks" {
  description = "Most server tasks: 10,000 calls need 84 at the target, and 100 leave 67 (150 calls each) when a zone is lost (docs/scaling.md)."
  type        = number
  default     = 100
}

variable "live_calls_per_task_target" {
  description = "Target of the live-calls autoscaling: average live calls per server task."
  type        = number
  default     = 120
}

variable "worker_min_tasks" {
  description = "Workflow worker tasks kept running."
  type        = number
  default     = 2
}

variable "worker_max_tasks" {
  description = "Most workflow worker tasks."
  type        = number
  default     = 20
}

variable "drain_seconds" {
  description = "AYBIZA_DRAIN_S: how long live calls may go on after SIGTERM (under Fargate's 120 s stop timeout)."
  type        = number
  default     = 110
}

variable "log_retention_days" {
  description = "Retention of the region's CloudWatch log groups."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Address subscribed to the region's alert topic (Prometheus alerts); null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
