# The ALB takes HTTP and WebSocket (API, carrier webhooks, media streams) from the edge; the
# NLB takes SIP signalling from the trunks (UDP and TCP 5060, TLS passed through on 5061).
#
# RTP is not behind the NLB: an NLB listener is one port (no ranges, 50 per balancer) and it
# hashes each UDP flow to any target, so a call's media could not be steered to the task whose
# SDP answered it. See docs/deployment.md, "SIP and media".

data "aws_elb_service_account" "this" {}

resource "aws_s3_bucket" "lb_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log destination itself.
  #checkov:skip=CKV_AWS_144:Load balancer logs stay in their region.
  #checkov:skip=CKV_AWS_145:Load balancer access logs can only be delivered to SSE-S3 buckets.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of access-log objects.
  bucket_prefix = "${var.name}-lb-logs-"
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "lb_logs" {
  bucket                  = aws_s3_bucket.lb_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lb_logs" {
  bucket = aws_s3_bucket.lb_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lb_logs" {
  bucket = aws_s3_bucket.lb_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lb_logs" {
  bucket = aws_s3_bucket.lb_logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "lb_logs" {
  statement {
    sid       = "LoadBalancerDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.lb_logs.arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.lb_logs.arn, "${aws_s3_bucket.lb_logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lb_logs" {
  bucket = aws_s3_bucket.lb_logs.id
  policy = data.aws_iam_policy_document.lb_logs.json
}

resource "aws_lb" "http" {
  #checkov:skip=CKV2_AWS_76:The origin admits only Cloudflare's edge, which AWSManagedRulesAnonymousIpList would count as a hosting provider; Log4j probes are blocked by AWSManagedRulesKnownBadInputsRuleSet (waf.tf).
  name                       = "${var.name}-http"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  desync_mitigation_mode     = "strictest"
  # Media streams are long-lived WebSockets with a message every 20 ms; the timeout only
  # matters for an idle API connection.
  idle_timeout = 120

  access_logs {
    bucket  = aws_s3_bucket.lb_logs.id
    prefix  = "http"
    enabled = true
  }

  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.lb_logs]
}

resource "aws_lb_target_group" "http" {
  name        = "${var.name}-http"
  vpc_id      = aws_vpc.this.id
  target_type = "ip"
  protocol    = "HTTP"
  port        = 8080
  # A task being replaced keeps its WebSockets (live calls) this long; its drain does the rest.
  deregistration_delay = var.drain_seconds

  health_check {
    path                = "/readyz"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.http.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.http.arn
  }

  tags = local.tags
}

resource "aws_lb" "sip" {
  name                             = "${var.name}-sip"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = true

  access_logs {
    bucket  = aws_s3_bucket.lb_logs.id
    prefix  = "sip"
    enabled = true
  }

  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.lb_logs]
}

resource "aws_lb_target_group" "sip" {
  for_each    = local.sip_ports
  name        = "${var.name}-sip-${each.key}"
  vpc_id      = aws_vpc.this.id
  target_type = "ip"
  protocol    = upper(each.value.protocol)
  port        = each.value.port
  # SIP answers to the trunk's own address (Via received/rport).
  preserve_client_ip   = true
  deregistration_delay = var.drain_seconds

  # A task is healthy for SIP when its server is (UDP cannot be health-checked itself).
  health_check {
    protocol            = "HTTP"
    port                = "8080"
    path                = "/healthz"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = local.tags
}

resource "aws_lb_listener" "sip" {
  #checkov:skip=CKV_AWS_2:SIP listeners, not HTTP: SIP over UDP and TCP on 5060 is plain by protocol (RFC 3261), and 5061 passes SIP over TLS through to the server, which terminates it.
  #checkov:skip=CKV_AWS_103:As above: the NLB does not terminate TLS for SIP; the server does.
  for_each          = local.sip_ports
  load_balancer_arn = aws_lb.sip.arn
  protocol          = upper(each.value.protocol)
  port              = each.value.port

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.sip[each.key].arn
  }

  tags = local.tags
}
