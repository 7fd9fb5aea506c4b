"""deploy/k8s: every object valid under Kubernetes' own schemas (kubernetes-validate,
strict: unknown fields are errors), and the objects wired to each other, to the image
and to the server's settings."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from comments.cli import build_parser, drain_seconds
from comments.settings import Settings
from tests.deploy.conftest import K8S, ROOT, dockerfile_stages

Manifests = dict[tuple[str, str], dict[str, Any]]
# The oldest Kubernetes these manifests promise to work on.
KUBERNETES = "1.30"
NAMESPACE = "comments"


def node_deployment(manifests: Manifests) -> dict[str, Any]:
    return manifests[("Deployment", "comments-node")]


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(workload)["containers"]
    return only


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_manifest_is_valid_for_kubernetes(manifests: Manifests) -> None:
    assert len(manifests) >= 10
    for key, doc in manifests.items():
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key}: {'/'.join(map(str, exc.path))}: {exc.message}")


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        (["spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet"], "paht", "/"),
        (["spec", "template", "spec"], "terminationGracePeriodSeconds", "45s"),
        (["spec", "strategy"], "type", {"RollingUpdate": True}),
    ],
    ids=["unknown-field", "wrong-type", "wrong-shape"],
)
def test_the_schema_check_catches_a_broken_manifest(
    manifests: Manifests, where: list[Any], field: str, value: Any
) -> None:
    broken = copy.deepcopy(node_deployment(manifests))
    target = broken
    for step in where:
        target = target[step]
    target[field] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_kustomization_lists_every_manifest_in_one_namespace(manifests: Manifests) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == NAMESPACE
    assert ("Namespace", NAMESPACE) in manifests
    for (kind, name), doc in manifests.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, (kind, name)
    # The image override names the image every workload runs.
    (image,) = kustomization["images"]
    for kind, name in manifests:
        if kind in ("Deployment", "Job"):
            assert container(manifests[kind, name])["image"].split(":")[0] == image["name"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Deployment", "comments-node"), ("Deployment", "comments-worker"),
     ("Job", "comments-migrate")],
    ids=["node", "worker", "migrate"],
)  # fmt: skip
def test_workloads_take_their_settings_from_the_configmap_and_secret(
    manifests: Manifests, kind: str, name: str
) -> None:
    sources = container(manifests[kind, name])["envFrom"]
    names = {(next(iter(s)), next(iter(s.values()))["name"]) for s in sources}
    assert names == {("configMapRef", "comments-config"), ("secretRef", "comments-secrets")}
    assert ("ConfigMap", "comments-config") in manifests
    assert ("Secret", "comments-secrets") in manifests


def test_workloads_run_the_entrypoints_commands(manifests: Manifests) -> None:
    expected = {
        ("Deployment", "comments-node"): ["serve"],
        ("Deployment", "comments-worker"): ["worker"],
        ("Job", "comments-migrate"): ["migrate"],
    }
    for key, args in expected.items():
        c = container(manifests[key])
        # `command:` would replace the entrypoint (and its torch threads): only args.
        assert "command" not in c and c["args"] == args, key
        assert build_parser().parse_args(args).command == args[0]


def test_settings_are_real_comments_settings(manifests: Manifests) -> None:
    env = dict(manifests["ConfigMap", "comments-config"]["data"])
    secret = manifests["Secret", "comments-secrets"]["stringData"]
    env.update(secret)
    source = (ROOT / "comments" / "settings.py").read_text()
    for key in env:
        assert f'"{key}"' in source, f"{key} is not read by comments/settings.py"
    settings = Settings.from_env(env)  # every value parses
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.broker_url.startswith("redis://")
    assert settings.trusted_proxies  # behind the ingress: forwarded addresses believed


def test_service_selects_the_node_pods_only(manifests: Manifests) -> None:
    service = manifests["Service", "comments"]
    selector = service["spec"]["selector"]
    for kind, name in manifests:
        if kind in ("Deployment", "Job"):
            labels = manifests[kind, name]["spec"]["template"]["metadata"]["labels"]
            assert matches(selector, labels) is (name == "comments-node"), name


@pytest.mark.parametrize("name", ["comments-node", "comments-worker"])
def test_deployment_selector_matches_its_pods(manifests: Manifests, name: str) -> None:
    deployment = manifests["Deployment", name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)


def container_port(c: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port (a name or a number) as the container's port number."""
    for p in c["ports"]:
        if port in (p["name"], p["containerPort"]):
            number: int = p["containerPort"]
            return number
    raise AssertionError(f"{port!r} is no port of the container")


def test_probes_ask_readyz_and_healthz_on_the_served_port(manifests: Manifests) -> None:
    c = container(node_deployment(manifests))
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    served = int(env.get("PORT", "8000"))
    probes = {
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
    }
    for probe, path in probes.items():
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert container_port(c, get["port"]) == served, probe
    # /readyz checks the database and the broker one after the other, up to 2 s each.
    assert c["readinessProbe"]["timeoutSeconds"] >= 4


def test_ingress_reaches_the_nodes_through_the_service(manifests: Manifests) -> None:
    ingress = manifests["Ingress", "comments"]
    service = manifests["Service", "comments"]
    c = container(node_deployment(manifests))
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            want = backend["port"].get("name", backend["port"].get("number"))
            (port,) = [p for p in service["spec"]["ports"] if want in (p["name"], p["port"])]
            assert container_port(c, port["targetPort"]) == 8000
        assert rule["host"] in {h for t in ingress["spec"]["tls"] for h in t["hosts"]}


def test_ingress_keeps_sockets_open_for_an_hour(manifests: Manifests) -> None:
    annotations = manifests["Ingress", "comments"]["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    assert manifests["Ingress", "comments"]["spec"]["ingressClassName"] == "nginx"


def uvicorn_drain_seconds(manifests: Manifests) -> int:
    """The drain `comments serve` runs with under the ConfigMap's and Secret's settings."""
    env = {
        **manifests["ConfigMap", "comments-config"]["data"],
        **manifests["Secret", "comments-secrets"]["stringData"],
    }
    return drain_seconds(Settings.from_env(env))


def test_termination_grace_outlasts_prestop_and_the_socket_drain(manifests: Manifests) -> None:
    spec = pod(node_deployment(manifests))
    pre_stop = container(node_deployment(manifests))["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # The endpoint must leave the Service before SIGTERM: at least two readiness periods.
    readiness = container(node_deployment(manifests))["readinessProbe"]
    assert int(pre_stop[1]) >= 2 * readiness["periodSeconds"]
    drain = uvicorn_drain_seconds(manifests)
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain


def test_rolling_update_never_lowers_capacity(manifests: Manifests) -> None:
    rolling = node_deployment(manifests)["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1


def test_autoscaler_scales_the_node_deployment_on_cpu(manifests: Manifests) -> None:
    hpa = manifests["HorizontalPodAutoscaler", "comments-node"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert ("Deployment", target["name"]) in manifests and target["name"] == "comments-node"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Utilisation is of the request: the nodes must have one.
    assert container(node_deployment(manifests))["resources"]["requests"]["cpu"]
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    # The autoscaler owns the count: an apply must not reset it.
    assert "replicas" not in node_deployment(manifests)["spec"]


def test_disruption_budget_keeps_most_nodes_up(manifests: Manifests) -> None:
    pdb = manifests["PodDisruptionBudget", "comments-node"]
    labels = node_deployment(manifests)["spec"]["template"]["metadata"]["labels"]
    assert matches(pdb["spec"]["selector"]["matchLabels"], labels)
    minimum = manifests["HorizontalPodAutoscaler", "comments-node"]["spec"]["minReplicas"]
    assert 1 <= pdb["spec"]["maxUnavailable"] < minimum


def test_migration_job_runs_once_without_restarting_forever(manifests: Manifests) -> None:
    job = manifests["Job", "comments-migrate"]
    assert pod(job)["restartPolicy"] in ("Never", "OnFailure")
    assert 0 < job["spec"]["backoffLimit"] <= 6
    assert job["spec"]["activeDeadlineSeconds"] > 0


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Deployment", "comments-node"), ("Deployment", "comments-worker"),
     ("Job", "comments-migrate")],
    ids=["node", "worker", "migrate"],
)  # fmt: skip
def test_pods_run_as_the_images_user_with_writable_paths_mounted(
    manifests: Manifests, kind: str, name: str
) -> None:
    final = dockerfile_stages()[-1]
    (user,) = [i["value"] for i in final if i["instruction"] == "USER"][-1:]
    (volume,) = [json.loads(i["value"])[0] for i in final if i["instruction"] == "VOLUME"]
    workload = manifests[kind, name]
    security = pod(workload)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert str(security["runAsUser"]) == user.split(":")[0]
    c = container(workload)
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    if c["securityContext"].get("readOnlyRootFilesystem"):
        assert "/tmp" in mounts
    if kind == "Deployment":  # the classifier loads there
        assert volume in mounts
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["memory"]


def test_pods_meet_the_restricted_pod_security_standard_their_namespace_enforces(
    manifests: Manifests,
) -> None:
    namespace = manifests["Namespace", NAMESPACE]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    for (kind, name), workload in manifests.items():
        if kind not in ("Deployment", "Job"):
            continue
        spec = pod(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert all(set(v) <= {"name", "emptyDir", "configMap", "secret",
                              "persistentVolumeClaim", "projected"}
                   for v in spec.get("volumes", [])), name  # fmt: skip
        for c in spec["containers"]:
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert not security.get("capabilities", {}).get("add"), name
