"""The Terraform of ``deploy/terraform``, parsed (python-hcl2) and checked for its wiring: the
region module twice (primary and replica), tasks in private subnets behind the ALB's and the
NLB's target groups, autoscaling on the live-calls metric the collector publishes, the
database private and encrypted with the region's key, and the edge in front."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.deploy.metric_names import exported_series
from tests.deploy.terraform import (
    REGION_MODULE,
    TERRAFORM,
    Configuration,
    load_module,
    parse_file,
    single,
)

KEY = "${aws_kms_key.this.arn}"


@pytest.fixture(scope="module")
def root() -> Configuration:
    return load_module(TERRAFORM)


@pytest.fixture(scope="module")
def region() -> Configuration:
    return load_module(REGION_MODULE)


def test_every_terraform_file_parses() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 15
    for path in files:
        assert parse_file(path), path


def test_the_region_module_runs_twice_on_two_aws_providers(root: Configuration) -> None:
    aliases = {body["alias"]: body["region"] for name, body in root.providers if name == "aws"}
    assert aliases == {"primary": "${var.primary_region}", "secondary": "${var.secondary_region}"}
    primary, secondary = root.modules["primary"], root.modules["secondary"]
    assert primary["source"] == secondary["source"] == "./modules/region"
    assert primary["providers"] == {"aws": "${aws.primary}"}
    assert secondary["providers"] == {"aws": "${aws.secondary}"}
    # The secondary replicates the primary's database and writes to it over the peering.
    assert "database_source_arn" not in primary
    assert secondary["database_source_arn"] == "${module.primary.database_arn}"
    assert secondary["primary_database_address"] == "${module.primary.database_address}"
    assert primary["peer_cidr_blocks"] == ["${var.secondary_cidr}"]
    assert secondary["peer_cidr_blocks"] == ["${var.primary_cidr}"]
    # Every variable the module requires is given by both instances.
    for name, variable in load_module(REGION_MODULE).variables.items():
        if "default" not in variable:
            assert name in primary and name in secondary, name


def test_the_regions_are_peered_and_route_to_each_other(root: Configuration) -> None:
    peering = root.resource("aws_vpc_peering_connection", "regions")
    assert peering["vpc_id"] == "${module.primary.vpc_id}"
    assert peering["peer_vpc_id"] == "${module.secondary.vpc_id}"
    routes = root.resources["aws_route"]
    assert routes["primary_to_secondary"]["destination_cidr_block"] == "${var.secondary_cidr}"
    assert routes["secondary_to_primary"]["destination_cidr_block"] == "${var.primary_cidr}"
    assert (
        "module.secondary.private_route_table_ids"
        in routes["secondary_to_primary"]["route_table_id"]
    )


def test_tasks_run_in_private_subnets_without_public_addresses(region: Configuration) -> None:
    private = region.resource("aws_subnet", "private")
    assert "map_public_ip_on_launch" not in private
    assert region.resource("aws_subnet", "public")["map_public_ip_on_launch"] is False
    nat = region.resource("aws_route", "private_nat")
    assert nat["route_table_id"] == "${aws_route_table.private[count.index].id}"
    assert "nat_gateway_id" in nat and "gateway_id" not in nat
    for name in ("server", "worker"):
        service = region.resource("aws_ecs_service", name)
        assert service["launch_type"] == "FARGATE"
        network = single(service["network_configuration"])
        assert network["subnets"] == "${aws_subnet.private[*].id}"
        assert network["assign_public_ip"] is False
        assert network["security_groups"] == ["${aws_security_group.tasks.id}"]


def test_the_server_service_is_behind_the_alb_and_the_nlb_target_groups(
    region: Configuration,
) -> None:
    service = region.resource("aws_ecs_service", "server")
    [http] = service["load_balancer"]
    assert http["target_group_arn"] == "${aws_lb_target_group.http.arn}"
    assert (http["container_name"], http["container_port"]) == ("aybiza", 8080)
    [sip] = [block["load_balancer"] for block in service["dynamic"]]
    assert sip["for_each"] == "${local.sip_ports}"
    assert single(sip["content"])["target_group_arn"] == (
        "${aws_lb_target_group.sip[load_balancer.key].arn}"
    )

    alb, nlb = region.resource("aws_lb", "http"), region.resource("aws_lb", "sip")
    assert alb["load_balancer_type"] == "application" and nlb["load_balancer_type"] == "network"
    assert alb["subnets"] == nlb["subnets"] == "${aws_subnet.public[*].id}"
    https = region.resource("aws_lb_listener", "https")
    assert https["load_balancer_arn"] == "${aws_lb.http.arn}"
    assert (https["protocol"], https["port"]) == ("HTTPS", 443)
    assert single(https["default_action"])["target_group_arn"] == (
        "${aws_lb_target_group.http.arn}"
    )
    assert single(region.resource("aws_lb_target_group", "http")["health_check"])["path"] == (
        "/readyz"
    )
    listener = region.resource("aws_lb_listener", "sip")
    assert listener["load_balancer_arn"] == "${aws_lb.sip.arn}"
    assert single(listener["default_action"])["target_group_arn"] == (
        "${aws_lb_target_group.sip[each.key].arn}"
    )
    sip_ports = {name: (p["protocol"], p["port"]) for name, p in region.locals["sip_ports"].items()}
    assert sip_ports == {"udp": ("udp", 5060), "tcp": ("tcp", 5060), "tls": ("tcp", 5061)}
    assert region.resource("aws_lb_target_group", "sip")["target_type"] == "ip"


def test_autoscaling_tracks_the_live_calls_the_collector_publishes(region: Configuration) -> None:
    target = region.resource("aws_appautoscaling_target", "server")
    assert target["resource_id"] == (
        "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.server.name}"
    )
    policy = region.resource("aws_appautoscaling_policy", "server_live_calls")
    assert policy["policy_type"] == "TargetTrackingScaling"
    tracking = single(policy["target_tracking_scaling_policy_configuration"])
    assert tracking["target_value"] == "${var.live_calls_per_task_target}"
    metric = single(tracking["customized_metric_specification"])
    assert (metric["namespace"], metric["metric_name"], metric["statistic"]) == (
        "AYBIZA",
        "aybiza_calls_active",
        "Average",
    )
    dimensions = {d["name"]: d["value"] for d in metric["dimensions"]}
    assert dimensions == {
        "ClusterName": "${aws_ecs_cluster.this.name}",
        "ServiceName": "${aws_ecs_service.server.name}",
    }
    # The metric is one the server exports, and the sidecar publishes it with those dimensions.
    assert "aybiza_calls_active" in exported_series()
    collector = region.locals["collector_config"]
    [scrape] = collector["receivers"]["prometheus"]["config"]["scrape_configs"]
    [static] = scrape["static_configs"]
    assert static["targets"] == ["127.0.0.1:8080"]
    assert static["labels"]["ClusterName"] == dimensions["ClusterName"]
    service_name = region.resource("aws_ecs_service", "server")["name"]
    assert static["labels"]["ServiceName"] == service_name
    emf = collector["exporters"]["awsemf"]
    assert emf["namespace"] == "AYBIZA"
    [declaration] = emf["metric_declarations"]
    assert declaration["dimensions"] == [["ClusterName", "ServiceName"]]
    assert any(re.fullmatch(s, "aybiza_calls_active") for s in declaration["metric_name_selectors"])
    assert "awsemf" in collector["service"]["pipelines"]["metrics"]["exporters"]
    # Traces: the server exports to the sidecar's OTLP/HTTP receiver.
    assert {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://127.0.0.1:4318"} in (
        region.locals["server_environment"]
    )
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "127.0.0.1:4318"


def test_the_services_run_the_server_and_the_worker(region: Configuration) -> None:
    server = region.resource("aws_ecs_task_definition", "server")["container_definitions"]
    worker = region.resource("aws_ecs_task_definition", "worker")["container_definitions"]
    assert '["aybiza", "serve", "--host", "0.0.0.0", "--port", "8080"]' in server
    assert '["aybiza", "worker", "--runner", "arq"]' in worker
    for definition in (server, worker):
        assert "readonlyRootFilesystem = true" in definition
        assert "secrets = local.task_secret_refs" in definition
    # The drain fits in Fargate's stop timeout (at most 120 s).
    assert region.variables["drain_seconds"]["default"] < 120
    assert "stopTimeout = 120" in server


def test_the_database_is_private_and_encrypted_with_the_region_key(region: Configuration) -> None:
    database = region.resource("aws_db_instance", "this")
    assert database["publicly_accessible"] is False
    assert database["storage_encrypted"] is True
    assert database["kms_key_id"] == KEY
    assert database["performance_insights_kms_key_id"] == KEY
    assert database["replicate_source_db"] == "${var.database_source_arn}"
    assert database["password"] == "${local.is_primary ? var.database_password : null}"
    assert database["db_subnet_group_name"] == "${aws_db_subnet_group.this.name}"
    assert region.resource("aws_db_subnet_group", "this")["subnet_ids"] == (
        "${aws_subnet.private[*].id}"
    )
    parameters = {
        p["name"]: p["value"]
        for p in region.resource("aws_db_parameter_group", "this")["parameter"]
    }
    assert parameters["rds.force_ssl"] == "1"


def test_everything_at_rest_is_encrypted_with_the_region_key(region: Configuration) -> None:
    assert region.resource("aws_kms_key", "this")["enable_key_rotation"] is True
    redis = region.resource("aws_elasticache_replication_group", "this")
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["transit_encryption_enabled"] is True
    assert redis["kms_key_id"] == KEY
    assert redis["subnet_group_name"] == "${aws_elasticache_subnet_group.this.name}"
    for name in ("platform", "engine"):
        assert region.resource("aws_secretsmanager_secret", name)["kms_key_id"] == KEY
    for name, group in region.resources["aws_cloudwatch_log_group"].items():
        assert group["kms_key_id"] == KEY, name
    assert region.resource("aws_sns_topic", "alerts")["kms_master_key_id"] == KEY
    assert region.resource("aws_prometheus_workspace", "this")["kms_key_arn"] == KEY


def test_the_replica_regions_read_configuration_from_their_replica(
    region: Configuration,
) -> None:
    names = region.locals["platform_secret_names"]
    assert "AYBIZA_DATABASE_READ_URL" in names and "local.is_primary" in names
    assert region.locals["read_url"].endswith(
        "@${aws_db_instance.this.address}:5432/aybiza?ssl=require"
    )
    assert "var.primary_database_address" in region.locals["writer_address"]


def test_prometheus_evaluates_the_alert_rules_of_the_repository(region: Configuration) -> None:
    data = region.resource("aws_prometheus_rule_group_namespace", "alerts")["data"]
    match = re.fullmatch(r'\$\{file\("\$\{path\.module\}/(.+)"\)\}', data)
    assert match is not None, data
    assert (REGION_MODULE / match.group(1)).resolve().is_file()


def _pools(root: Configuration) -> dict[str, Any]:
    return root.resources["cloudflare_load_balancer_pool"]


def test_cloudflare_balances_the_api_over_both_regions_on_readyz(root: Configuration) -> None:
    monitor = root.resource("cloudflare_load_balancer_monitor", "readyz")
    assert (monitor["path"], monitor["expected_codes"]) == ("/readyz", "200")
    pool = _pools(root)["region"]
    assert pool["monitor"] == "${cloudflare_load_balancer_monitor.readyz.id}"
    assert pool["origins"][0]["address"] == "${each.value.alb}"
    regions = root.locals["region_modules"]
    assert {value["alb"] for value in regions.values()} == {
        "${module.primary.alb_dns_name}",
        "${module.secondary.alb_dns_name}",
    }
    balancer = root.resource("cloudflare_load_balancer", "api")
    assert "cloudflare_load_balancer_pool.region[region].id" in balancer["default_pools"]
    assert balancer["proxied"] is True


def test_the_three_workers_are_deployed_and_routed(root: Configuration) -> None:
    scripts = root.resources["cloudflare_workers_script"]
    assert set(scripts) == {"voice_router", "cache_manager", "auth_validator"}
    for name, script in scripts.items():
        folder = name.replace("_", "-")
        assert script["content_file"] == f"${{var.edge_bundles_dir}}/{folder}/dist/index.js"
    routes = root.resources["cloudflare_workers_route"]
    assert routes["voice_router"]["script"] == (
        "${cloudflare_workers_script.voice_router.script_name}"
    )
    assert routes["voice_router"]["pattern"] == "${var.voice_hostname}/*"
    assert routes["auth_validator"]["pattern"] == "${var.api_hostname}/v1/*"
    bindings = {b["name"]: b for b in scripts["voice_router"]["bindings"]}
    assert bindings["REGIONS"]["text"] == "${local.region_table}"
    assert bindings["REGION_HEALTH"]["type"] == "durable_object_namespace"
    assert bindings["CACHE"]["service"] == "${cloudflare_workers_script.cache_manager.script_name}"
    # The region table points the router at each region's origin name, proxied to its ALB.
    origin = root.resource("cloudflare_dns_record", "origin")
    assert (origin["type"], origin["content"], origin["proxied"]) == (
        "CNAME",
        "${each.value.alb}",
        True,
    )


def test_account_wide_names_differ_between_the_two_regions(region: Configuration) -> None:
    # IAM is global to the account: two instances of the module must not name a role alike.
    assert "${var.region_label}" in region.locals["iam_prefix"]
    for name, role in region.resources["aws_iam_role"].items():
        assert role["name"].startswith("${local.iam_prefix}-"), name
    # S3 bucket names are global too: the log bucket takes a generated suffix.
    assert "bucket_prefix" in region.resource("aws_s3_bucket", "lb_logs")
