# Two Fargate services in the private subnets: the servers (behind the ALB and the NLB,
# autoscaled on live calls per task) and the workflow workers (arq on Redis, on CPU).
#
# A server task is one vCPU and one server process (`aybiza serve`, one worker): its
# /metrics are then the task's own, which the collector sidecar turns into the live-calls
# metric that autoscaling tracks (autoscaling.tf).
locals {
  server_environment = [
    { name = "AYBIZA_ENV", value = "production" },
    { name = "AYBIZA_PUBLIC_URL", value = var.public_url },
    { name = "AYBIZA_WORKFLOW_RUNNER", value = "arq" },
    { name = "AYBIZA_DRAIN_S", value = tostring(var.drain_seconds) },
    { name = "AYBIZA_LOG_LEVEL", value = "info" },
    { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = "http://127.0.0.1:4318" },
    { name = "OTEL_RESOURCE_ATTRIBUTES", value = "cloud.provider=aws,cloud.region=${var.region_label}" },
  ]
  task_secret_refs = [for name, arn in local.task_secrets : { name = name, valueFrom = arn }]
  # The data directory (demo.key) and /tmp are the only writable paths.
  writable = [
    { sourceVolume = "data", containerPath = "/var/lib/aybiza", readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
  ]
  collector_config = {
    extensions = {
      sigv4auth = { region = var.region_label, service = "aps" }
    }
    receivers = {
      otlp = { protocols = { http = { endpoint = "127.0.0.1:4318" } } }
      prometheus = {
        config = {
          scrape_configs = [{
            job_name        = "aybiza"
            scrape_interval = "15s"
            static_configs = [{
              targets = ["127.0.0.1:8080"]
              labels = {
                region      = var.region_label
                ClusterName = aws_ecs_cluster.this.name
                ServiceName = "${var.name}-server"
              }
            }]
          }]
        }
      }
    }
    processors = { batch = {} }
    exporters = {
      awsxray = { region = var.region_label }
      # aybiza_calls_active per task, averaged by autoscaling over the service's tasks.
      awsemf = {
        region                  = var.region_label
        namespace               = "AYBIZA"
        log_group_name          = aws_cloudwatch_log_group.metrics.name
        dimension_rollup_option = "NoDimensionRollup"
        metric_declarations = [{
          dimensions            = [["ClusterName", "ServiceName"]]
          metric_name_selectors = ["^aybiza_calls_active$"]
        }]
      }
      prometheusremotewrite = {
        endpoint = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
        auth     = { authenticator = "sigv4auth" }
      }
    }
    service = {
      extensions = ["sigv4auth"]
      pipelines = {
        traces  = { receivers = ["otlp"], processors = ["batch"], exporters = ["awsxray"] }
        metrics = { receivers = ["prometheus"], processors = ["batch"], exporters = ["awsemf", "prometheusremotewrite"] }
      }
    }
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  tags = local.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.this.arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.ecs_exec.name
      }
    }
  }
}

resource "aws_ecs_task_definition" "server" {
  family                   = "${var.name}-server"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.server_cpu
  memory                   = var.server_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = local.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "aybiza"
      image                  = var.image
      essential              = true
      command                = ["aybiza", "serve", "--host", "0.0.0.0", "--port", "8080"]
      readonlyRootFilesystem = true
      privileged             = false
      portMappings = [
        { containerPort = 8080, protocol = "tcp" },
        { containerPort = 5060, protocol = "udp" },
        { containerPort = 5060, protocol = "tcp" },
        { containerPort = 5061, protocol = "tcp" },
      ]
      environment = local.server_environment
      secrets     = local.task_secret_refs
      mountPoints = local.writable
      # Fargate allows at most 120 s between SIGTERM and SIGKILL; the drain fits in it.
      stopTimeout = 120
      healthCheck = {
        command     = ["CMD", "python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
        interval    = 10
        timeout     = 3
        retries     = 3
        startPeriod = 40
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.server.name
          awslogs-region        = var.region_label
          awslogs-stream-prefix = "server"
        }
      }
    },
    {
      name                   = "collector"
      image                  = var.adot_image
      essential              = false
      readonlyRootFilesystem = true
      privileged             = false
      environment            = [{ name = "AOT_CONFIG_CONTENT", value = yamlencode(local.collector_config) }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.collector.name
          awslogs-region        = var.region_label
          awslogs-stream-prefix = "collector"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "server" {
  name                              = "${var.name}-server"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.server.arn
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  desired_count                     = var.server_min_tasks
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_execute_command            = false
  tags                              = local.tags

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.http.arn
    container_name   = "aybiza"
    container_port   = 8080
  }

  dynamic "load_balancer" {
    for_each = local.sip_ports
    content {
      target_group_arn = aws_lb_target_group.sip[load_balancer.key].arn
      container_name   = "aybiza"
      container_port   = load_balancer.value.port
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  lifecycle {
    # Autoscaling owns the task count.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener.https, aws_lb_listener.sip]
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = local.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "worker"
      image                  = var.image
      essential              = true
      command                = ["aybiza", "worker", "--runner", "arq"]
      readonlyRootFilesystem = true
      privileged             = false
      environment            = [for e in local.server_environment : e if !startswith(e.name, "OTEL_")]
      secrets                = local.task_secret_refs
      mountPoints            = local.writable
      stopTimeout            = 60
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.worker.name
          awslogs-region        = var.region_label
          awslogs-stream-prefix = "worker"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "worker" {
  name                   = "${var.name}-worker"
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.worker.arn
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  desired_count          = var.worker_min_tasks
  propagate_tags         = "SERVICE"
  enable_execute_command = false
  tags                   = local.tags

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
}
