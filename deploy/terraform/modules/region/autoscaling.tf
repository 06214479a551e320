# Servers scale on live calls per task: each task's collector publishes its process's
# aybiza_calls_active gauge to CloudWatch (namespace AYBIZA, dimensions ClusterName and
# ServiceName, every 15 s); the Average statistic over those dimensions is the mean of live
# calls per task, and target tracking keeps it at live_calls_per_task_target (120 of the 150
# calls a core carries with headroom, docs/scaling.md). Scale-in is slow: a task that stops
# ends its calls after the drain (AYBIZA_DRAIN_S).
resource "aws_appautoscaling_target" "server" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.server.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.server_min_tasks
  max_capacity       = var.server_max_tasks
}

resource "aws_appautoscaling_policy" "server_live_calls" {
  name               = "${var.name}-live-calls-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.server.service_namespace
  resource_id        = aws_appautoscaling_target.server.resource_id
  scalable_dimension = aws_appautoscaling_target.server.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.live_calls_per_task_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 900

    customized_metric_specification {
      namespace   = "AYBIZA"
      metric_name = "aybiza_calls_active"
      statistic   = "Average"

      dimensions {
        name  = "ClusterName"
        value = aws_ecs_cluster.this.name
      }
      dimensions {
        name  = "ServiceName"
        value = aws_ecs_service.server.name
      }
    }
  }
}

# A safety net should the calls metric stop arriving: CPU (a busy core is the same limit).
resource "aws_appautoscaling_policy" "server_cpu" {
  name               = "${var.name}-server-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.server.service_namespace
  resource_id        = aws_appautoscaling_target.server.resource_id
  scalable_dimension = aws_appautoscaling_target.server.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = 75
    scale_out_cooldown = 60
    scale_in_cooldown  = 900

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_min_tasks
  max_capacity       = var.worker_max_tasks
}

resource "aws_appautoscaling_policy" "worker_cpu" {
  name               = "${var.name}-worker-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
