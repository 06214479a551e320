# PostgreSQL: the primary in the primary region; in every other region a cross-region read
# replica of it, which the servers read configuration from (AYBIZA_DATABASE_READ_URL) while
# they write to the primary over the VPC peering (docs/scaling.md, "Cross-region data").
resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = aws_subnet.private[*].id
  tags       = local.tags
}

resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres16"
  tags   = local.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.iam_prefix}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  # A replica inherits its engine from the primary.
  engine         = local.is_primary ? "postgres" : null
  engine_version = local.is_primary ? "16.4" : null
  instance_class = var.database_instance_class

  # The primary is created with its user; a replica copies the primary (and its user).
  replicate_source_db = var.database_source_arn
  db_name             = local.is_primary ? "aybiza" : null
  username            = local.is_primary ? "aybiza" : null
  password            = local.is_primary ? var.database_password : null

  allocated_storage     = local.is_primary ? 200 : null
  max_allocated_storage = 2000
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period    = 14
  copy_tags_to_snapshot      = true
  deletion_protection        = true
  # A replica is deleted without a snapshot of its own (the primary's backups hold the data).
  skip_final_snapshot        = !local.is_primary
  final_snapshot_identifier  = local.is_primary ? "${var.name}-final" : null
  auto_minor_version_upgrade = true

  iam_database_authentication_enabled   = true
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn

  tags = local.tags
}
