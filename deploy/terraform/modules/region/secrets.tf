# What the tasks get as secrets (ECS injects them as environment variables). The URLs carry
# their passwords, so they are secrets too.
locals {
  writer_address = local.is_primary ? aws_db_instance.this.address : var.primary_database_address
  database_url   = "postgresql+asyncpg://aybiza:${var.database_password}@${local.writer_address}:5432/aybiza?ssl=require"
  read_url       = "postgresql+asyncpg://aybiza:${var.database_password}@${aws_db_instance.this.address}:5432/aybiza?ssl=require"
  redis_url      = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
  # Environment variable name => secret. The primary region reads configuration from the
  # primary itself; other regions from their replica (AYBIZA_DATABASE_READ_URL).
  task_secrets = merge(
    { for name, secret in aws_secretsmanager_secret.platform : name => secret.arn },
    { for name, secret in aws_secretsmanager_secret.engine : name => secret.arn },
  )
  platform_secret_names = concat(
    ["AYBIZA_DATABASE_URL", "AYBIZA_REDIS_URL", "AYBIZA_SECRET_KEY"],
    local.is_primary ? [] : ["AYBIZA_DATABASE_READ_URL"],
  )
  platform_secret_values = {
    AYBIZA_DATABASE_URL      = local.database_url
    AYBIZA_DATABASE_READ_URL = local.read_url
    AYBIZA_REDIS_URL         = local.redis_url
    AYBIZA_SECRET_KEY        = var.secret_key
  }
}

resource "aws_secretsmanager_secret" "platform" {
  #checkov:skip=CKV2_AWS_57:The URLs embed passwords Terraform sets; rotating them is a Terraform change (a new apply), not a Lambda.
  for_each                = toset(local.platform_secret_names)
  name                    = "${var.name}/${each.key}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "platform" {
  for_each      = toset(local.platform_secret_names)
  secret_id     = aws_secretsmanager_secret.platform[each.key].id
  secret_string = local.platform_secret_values[each.key]
}

resource "aws_secretsmanager_secret" "engine" {
  #checkov:skip=CKV2_AWS_57:Vendor keys (Twilio, Deepgram) are rotated at the vendor, then set here.
  for_each                = toset(var.engine_secret_names)
  name                    = "${var.name}/${each.key}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "engine" {
  for_each      = toset(var.engine_secret_names)
  secret_id     = aws_secretsmanager_secret.engine[each.key].id
  secret_string = var.engine_secrets[each.key]
}
