"""helm lint and helm template of charts/exoccm: the rendered objects, checked one by one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import exoccm
from exoccm.kube.objects import Obj
from tests.unit.chart.helm import (
    CHART,
    CI_VALUES,
    CLUSTER_RULES,
    CSR_RULES,
    ZONE,
    Helm,
    Rendered,
    lease_rules,
    rules,
)

MONITORING_APIS = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PodMonitor")
NAMESPACE = "kube-system"


def ci(name: str) -> Path:
    path = CHART / "ci" / f"{name}-values.yaml"
    assert path.is_file(), path
    return path


def ci_values(name: str) -> Obj:
    values: Obj = yaml.safe_load(ci(name).read_text())
    return values


@pytest.fixture(scope="module")
def default(helm: Helm) -> Rendered:
    return helm.template(ZONE, namespace=NAMESPACE)


def test_ci_values_files_exist() -> None:
    names = {path.name for path in CI_VALUES}
    assert {
        "default-values.yaml",
        "csr-values.yaml",
        "file-credentials-values.yaml",
        "monitoring-values.yaml",
        "hostnetwork-values.yaml",
    } <= names


def test_chart_versions_follow_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == exoccm.__version__
    assert chart["kubeVersion"] == ">=1.31.0-0"


def test_lint_with_default_values(helm: Helm) -> None:
    output = helm.lint(ZONE)
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_lint_and_template_with_each_ci_values_file(helm: Helm, path: Path) -> None:
    assert "0 chart(s) failed" in helm.lint(files=[path])
    rendered = helm.template(files=[path], namespace="exoccm-system", release="ci")
    for obj in rendered:
        assert obj["apiVersion"]
        assert obj["metadata"]["name"]
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "exoccm-system", obj["kind"]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "ci"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    # Every rule of every role is explicit: no wildcard anywhere.
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (role["kind"], rule)


def test_default_objects(default: Rendered) -> None:
    assert default.kinds() == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]


def test_deployment_runs_two_replicas_of_exoccm_run(default: Rendered) -> None:
    deployment = default.deployment
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    container = default.container
    assert container["image"] == f"ghcr.io/exoccm/exoccm:{exoccm.__version__}"
    assert container["args"] == ["run"]
    assert "command" not in container  # the image's ENTRYPOINT is exoccm
    assert default.pod_spec["serviceAccountName"] == "exoccm"
    assert default.pod_spec["automountServiceAccountToken"] is True


def test_pod_is_cluster_critical_and_tolerates_uninitialized_nodes(default: Rendered) -> None:
    spec = default.pod_spec
    assert spec["priorityClassName"] == "system-cluster-critical"
    tolerations = {(t["key"], t.get("effect")): t for t in spec["tolerations"]}
    for key, effect in [
        ("node.cloudprovider.kubernetes.io/uninitialized", "NoSchedule"),
        ("CriticalAddonsOnly", None),
        ("node-role.kubernetes.io/control-plane", "NoSchedule"),
        ("node-role.kubernetes.io/master", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoSchedule"),
    ]:
        assert tolerations[(key, effect)]["operator"] == "Exists", key
    assert len(spec["tolerations"]) == 5
    assert spec["hostNetwork"] is False
    assert spec["dnsPolicy"] == "Default"


def test_extra_tolerations_are_added_to_the_built_in_ones(helm: Helm) -> None:
    extra = {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}
    rendered = helm.template({**ZONE, "extraTolerations": [extra]})
    assert extra in rendered.pod_spec["tolerations"]
    assert len(rendered.pod_spec["tolerations"]) == 6


def test_security_context_is_locked_down(default: Rendered) -> None:
    pod = default.pod_spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532
    assert pod["runAsGroup"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    container = default.container["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["privileged"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["runAsUser"] == 65532
    # The only writable path is an emptyDir at /tmp.
    mounts = {m["name"]: m for m in default.container["volumeMounts"]}
    volumes = {v["name"]: v for v in default.pod_spec["volumes"]}
    assert mounts["tmp"]["mountPath"] == "/tmp"
    assert "emptyDir" in volumes["tmp"]
    assert set(volumes) == {"tmp"}


def test_probes_hit_health_endpoints_on_the_metrics_port(default: Rendered) -> None:
    container = default.container
    assert container["ports"] == [{"name": "metrics", "containerPort": 10258, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]


def test_environment_of_the_defaults(default: Rendered) -> None:
    env = default.env
    assert default.env_value("EXOSCALE_API_ZONE") == "ch-gva-2"
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The Go CCM's Secret and key names.
    assert env["EXOSCALE_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "exoscale-credentials", "key": "api-key"}
    }
    assert env["EXOSCALE_API_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "exoscale-credentials", "key": "api-secret"}
    }
    assert default.env_value("EXOCCM_LEADER_ELECT") == "true"
    assert default.env_value("EXOCCM_LEADER_ELECTION_NAMESPACE") == NAMESPACE
    assert default.env_value("EXOCCM_LEADER_ELECTION_NAME") == "exoccm"
    assert default.env_value("EXOCCM_LEASE_DURATION") == "15s"
    assert default.env_value("EXOCCM_RENEW_DEADLINE") == "10s"
    assert default.env_value("EXOCCM_RETRY_PERIOD") == "2s"
    assert default.env_value("EXOCCM_METRICS_PORT") == "10258"
    assert default.env_value("EXOCCM_CONTROLLERS") == "*"
    assert default.env_value("EXOCCM_EXISTING_NLB_NAMESPACES") == "*"
    assert default.env_value("EXOCCM_LOG_FORMAT") == "json"
    for absent in (
        "EXOSCALE_API_CREDENTIALS_FILE",
        "EXOSCALE_SKS_AGENT_RUNNERS",
        "EXOSCALE_API_ENDPOINT",
        "EXOCCM_CLUSTER_ID",
        "EXOCCM_CLOUD_CONFIG",
    ):
        assert absent not in env


def test_user_env_is_appended_and_cannot_shadow_chart_settings(helm: Helm) -> None:
    rendered = helm.template(
        {
            **ZONE,
            "env": {"EXOCCM_SERVICE_WORKERS": 20, "EXOCCM_DRIFT_PERIOD": "2m"},
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        }
    )
    assert rendered.env_value("EXOCCM_SERVICE_WORKERS") == "20"
    assert rendered.env_value("EXOCCM_DRIFT_PERIOD") == "2m"
    assert rendered.container["env"][-1] == {"name": "HTTPS_PROXY", "value": "http://proxy:3128"}
    error = helm.template_error({**ZONE, "env": {"EXOSCALE_API_ZONE": "de-fra-1"}})
    assert "env.EXOSCALE_API_ZONE" in error
    error = helm.template_error(
        {**ZONE, "extraEnv": [{"name": "EXOCCM_LEADER_ELECT", "value": "false"}]}
    )
    assert "EXOCCM_LEADER_ELECT" in error


def test_replicas_spread_over_nodes_and_budget_allows_one_down(default: Rendered) -> None:
    affinity = default.pod_spec["affinity"]["podAntiAffinity"]
    (term,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = default.deployment["spec"]["selector"]["matchLabels"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
    pdb = default.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == selector


def test_custom_affinity_replaces_the_default(helm: Helm) -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["infra"]}]}
                ]
            }
        }
    }
    rendered = helm.template({**ZONE, "affinity": affinity})
    assert rendered.pod_spec["affinity"] == affinity


def test_default_rbac_is_exactly_the_listed_rules(default: Rendered) -> None:
    assert rules(default.one("ClusterRole")) == sorted(CLUSTER_RULES)
    role = default.one("Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert rules(role) == sorted(lease_rules("exoccm"))
    subject = {"kind": "ServiceAccount", "name": "exoccm", "namespace": NAMESPACE}
    cluster_binding = default.one("ClusterRoleBinding")
    assert cluster_binding["subjects"] == [subject]
    assert cluster_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": default.one("ClusterRole")["metadata"]["name"],
    }
    binding = default.one("RoleBinding")
    assert binding["subjects"] == [subject]
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = default.one("ServiceAccount")
    assert account["metadata"]["name"] == "exoccm"
    assert account["automountServiceAccountToken"] is False  # the Pod asks for its token itself


def test_csr_approval_adds_its_rules_and_runner(helm: Helm) -> None:
    rendered = helm.template(files=[ci("csr")])
    assert rules(rendered.one("ClusterRole")) == sorted(CLUSTER_RULES + CSR_RULES)
    assert rendered.env_value("EXOSCALE_SKS_AGENT_RUNNERS") == "node-csr-validation"


def test_names_follow_the_release_and_the_lease_name(helm: Helm) -> None:
    rendered = helm.template(
        {**ZONE, "leaderElection": {"leaseName": "ccm-lock"}}, release="prod", namespace="ops"
    )
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "Deployment", "ServiceAccount"):
        assert rendered.one(kind)["metadata"]["name"] == "prod-exoccm", kind
    assert rules(rendered.one("Role")) == sorted(lease_rules("ccm-lock"))
    assert rendered.env_value("EXOCCM_LEADER_ELECTION_NAME") == "ccm-lock"
    assert rendered.env_value("EXOCCM_LEADER_ELECTION_NAMESPACE") == "ops"


def test_rbac_and_service_account_can_be_left_to_the_user(helm: Helm) -> None:
    rendered = helm.template(
        {**ZONE, "rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ccm"}}
    )
    assert rendered.kinds() == ["Deployment", "PodDisruptionBudget"]
    assert rendered.pod_spec["serviceAccountName"] == "ccm"
    error = helm.template_error({**ZONE, "serviceAccount": {"create": False}})
    assert "serviceAccount.name" in error


def test_single_replica_without_leader_election(helm: Helm) -> None:
    rendered = helm.template({**ZONE, "replicaCount": 1, "leaderElection": {"enabled": False}})
    assert rendered.deployment["spec"]["replicas"] == 1
    assert rendered.env_value("EXOCCM_LEADER_ELECT") == "false"
    assert rendered.of_kind("Role") == []


def test_file_credentials_mount_the_secret_directory(helm: Helm) -> None:
    values = ci_values("file-credentials")
    rendered = helm.template(files=[ci("file-credentials")], release="exoccm")
    secret = rendered.one("Secret")
    assert secret["metadata"]["name"] == "exoccm-credentials"
    credentials = json.loads(secret["stringData"]["credentials.json"])
    assert credentials == {
        "api_key": values["credentials"]["apiKey"],
        "api_secret": values["credentials"]["apiSecret"],
        "name": values["credentials"]["name"],
    }
    env = rendered.env
    assert "EXOSCALE_API_KEY" not in env
    assert "EXOSCALE_API_SECRET" not in env
    assert rendered.env_value("EXOSCALE_API_CREDENTIALS_FILE") == "/etc/exoscale/credentials.json"
    mounts = {m["name"]: m for m in rendered.container["volumeMounts"]}
    assert mounts["credentials"]["mountPath"] == "/etc/exoscale"
    assert mounts["credentials"]["readOnly"] is True
    for mount in rendered.container["volumeMounts"]:
        assert "subPath" not in mount  # a subPath mount would never see a rotated Secret
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "exoccm-credentials"
    assert volumes["credentials"]["secret"]["items"] == [
        {"key": "credentials.json", "path": "credentials.json"}
    ]


def test_existing_secret_as_file_uses_its_file_key(helm: Helm) -> None:
    rendered = helm.template(
        {
            **ZONE,
            "credentials": {
                "existingSecret": "rotated-key",
                "mountAsFile": True,
                "keys": {"apiKey": "api-key", "apiSecret": "api-secret", "file": "exo.json"},
            },
        }
    )
    assert rendered.of_kind("Secret") == []
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "rotated-key"
    assert volumes["credentials"]["secret"]["items"] == [
        {"key": "exo.json", "path": "credentials.json"}
    ]


def test_created_secret_in_env_mode(helm: Helm) -> None:
    rendered = helm.template(
        {**ZONE, "credentials": {"create": True, "apiKey": "EXOabc", "apiSecret": "s3cr3t"}},
        release="r1",
    )
    secret = rendered.one("Secret")
    assert secret["stringData"] == {"api-key": "EXOabc", "api-secret": "s3cr3t"}
    assert rendered.env["EXOSCALE_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "r1-exoccm-credentials", "key": "api-key"}
    }


def checksum(rendered: Rendered) -> str:
    value: str = rendered.deployment["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"
    ]
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    return value


def test_checksum_follows_the_configuration_that_needs_a_restart(helm: Helm) -> None:
    base = checksum(helm.template(ZONE))
    cloud_config = {"loadBalancer": {"disabled": True}}
    with_config = checksum(helm.template({**ZONE, "cloudConfig": cloud_config}))
    assert with_config != base
    assert checksum(helm.template({**ZONE, "cloudConfig": cloud_config})) == with_config

    def created(secret: str, as_file: bool) -> str:
        credentials = {"create": True, "apiKey": "EXOabc", "apiSecret": secret}
        return checksum(
            helm.template({**ZONE, "credentials": {**credentials, "mountAsFile": as_file}})
        )

    # Environment variables only change on restart: a new secret restarts the Pods ...
    assert created("one", as_file=False) != created("two", as_file=False)
    # ... but a mounted file is reloaded by exoccm, so no restart.
    assert created("one", as_file=True) == created("two", as_file=True)


def test_monitoring_objects_need_the_operator_apis(helm: Helm) -> None:
    without = helm.template(files=[ci("monitoring")])
    assert without.of_kind("ServiceMonitor") == []
    assert without.of_kind("PodMonitor") == []
    service = without.one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9258, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == without.deployment["spec"]["selector"]["matchLabels"]
    assert without.container["ports"][0]["containerPort"] == 9258
    assert without.env_value("EXOCCM_METRICS_PORT") == "9258"

    rendered = helm.template(files=[ci("monitoring")], api_versions=MONITORING_APIS)
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": "metrics",
        "path": "/metrics",
        "scheme": "http",
        "interval": "15s",
        "scrapeTimeout": "10s",
    }
    service_labels = rendered.one("Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    pod_monitor = rendered.one("PodMonitor")
    (pod_endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    assert pod_endpoint["port"] == "metrics"
    assert pod_endpoint["path"] == "/metrics"
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_service_monitor_alone_brings_its_service(helm: Helm) -> None:
    rendered = helm.template(
        {**ZONE, "metrics": {"serviceMonitor": {"enabled": True}}},
        api_versions=MONITORING_APIS[:1],
    )
    assert rendered.one("ServiceMonitor")
    assert rendered.one("Service")["metadata"]["name"] == "exoccm-metrics"


def test_host_network_layout(helm: Helm) -> None:
    rendered = helm.template(files=[ci("hostnetwork")])
    spec = rendered.pod_spec
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "Default"
    assert rendered.container["ports"][0]["containerPort"] == 10260
    assert rendered.env_value("EXOCCM_METRICS_PORT") == "10260"
    assert rendered.env_value("EXOCCM_CLUSTER_ID") == "production-1"
    assert rendered.env["EXOSCALE_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "my-exoscale-key",
        "key": "key",
    }
    assert rendered.env_value("EXOCCM_LOG_FORMAT") == "text"
    assert rendered.env_value("EXOCCM_LOG_LEVEL") == "debug"


def test_cloud_config_is_rendered_into_a_mounted_config_map(helm: Helm) -> None:
    rendered = helm.template(files=[ci("hostnetwork")], release="exoccm")
    config_map = rendered.one("ConfigMap")
    assert config_map["metadata"]["name"] == "exoccm-cloud-config"
    parsed = yaml.safe_load(config_map["data"]["cloud-config.yaml"])
    assert parsed == ci_values("hostnetwork")["cloudConfig"]
    assert rendered.env_value("EXOCCM_CLOUD_CONFIG") == "/etc/exoccm/cloud-config.yaml"
    mounts = {m["name"]: m for m in rendered.container["volumeMounts"]}
    assert mounts["cloud-config"]["mountPath"] == "/etc/exoccm"
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert volumes["cloud-config"]["configMap"]["name"] == "exoccm-cloud-config"


def test_image_digest_wins_over_the_tag(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    rendered = helm.template(
        {**ZONE, "image": {"repository": "registry.example/exoccm", "tag": "x", "digest": digest}}
    )
    assert rendered.container["image"] == f"registry.example/exoccm@{digest}"
