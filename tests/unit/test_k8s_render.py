"""The pure manifest builders, tested exactly (data in, dicts out), and what they must never do."""

from __future__ import annotations

import json

import pytest

from coursectl.render import kubernetes as km

DIGEST = "sha256:" + "ab" * 32
SETTINGS = km.Settings(
    namespace="course-prod",
    environment="prod",
    replicas=3,
    secret_keys={"CONTENT_SIGNING_KEY": ("content-keys", "signing-key")},
    image_pull_secrets=("regcred",),
)
USER = km.ServiceInfo(
    "user", 8001, health="/health/ready", env={"LOG_LEVEL": "info"}, secrets=("JWT_SECRET",), callers=("course",)
)
REQ = km.SlotRequest(
    "user",
    "green",
    "1.4.0",
    "127.0.0.1:5000/course-platform/user:1.4.0",
    DIGEST,
    rollout_id="3f2a9c0d1e2b",
    env={"USER_URL": "http://user:8001"},
    replicas=3,
)
COMMON = {
    "app.kubernetes.io/name": "user",
    "app.kubernetes.io/part-of": "course-platform",
    "app.kubernetes.io/managed-by": "coursectl",
    "coursectl.io/environment": "prod",
}


def test_deployment_exactly() -> None:
    dep = km.deployment(SETTINGS, USER, REQ)
    template_hash = dep["metadata"]["annotations"].pop(km.ANN_HASH)
    assert template_hash == km.template_hash(dep["spec"]["template"])
    assert dep == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "user-green",
            "namespace": "course-prod",
            "labels": {
                **COMMON,
                "coursectl.io/slot": "green",
                "coursectl.io/version": "1.4.0",
                "coursectl.io/rollout-id": "3f2a9c0d1e2b",
            },
            "annotations": {
                "coursectl.io/version": "1.4.0",
                "coursectl.io/digest": DIGEST,
                "coursectl.io/image": "127.0.0.1:5000/course-platform/user:1.4.0",
            },
        },
        "spec": {
            "replicas": 3,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": 90,
            "minReadySeconds": 0,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "user",
                    "app.kubernetes.io/managed-by": "coursectl",
                    "coursectl.io/slot": "green",
                }
            },
            "template": {
                "metadata": {
                    "labels": {**COMMON, "coursectl.io/slot": "green", "coursectl.io/version": "1.4.0"},
                    "annotations": {
                        "coursectl.io/config-hash": dep["spec"]["template"]["metadata"]["annotations"][
                            "coursectl.io/config-hash"
                        ],
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": "8001",
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "imagePullSecrets": [{"name": "regcred"}],
                    "containers": [
                        {
                            "name": "user",
                            "image": "127.0.0.1:5000/course-platform/user@" + DIGEST,
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "http", "containerPort": 8001, "protocol": "TCP"}],
                            "envFrom": [
                                {"configMapRef": {"name": "course-platform", "optional": True}},
                                {"configMapRef": {"name": "user-green", "optional": False}},
                            ],
                            "env": [
                                {
                                    "name": "JWT_SECRET",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": "course-platform", "key": "JWT_SECRET"}
                                    },
                                }
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/health/ready", "port": "http"},
                                "periodSeconds": 5,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/health/live", "port": "http"},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/course-platform"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def test_configmap_exactly() -> None:
    assert km.configmap(SETTINGS, USER, REQ) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "user-green",
            "namespace": "course-prod",
            "labels": {**COMMON, "coursectl.io/slot": "green"},
        },
        "data": {
            "LOG_LEVEL": "info",
            "USER_URL": "http://user:8001",
            "HOST": "0.0.0.0",
            "PORT": "8001",
            "SERVICE_SLOT": "green",
            "APP_VERSION": "1.4.0",
        },
    }


def test_services_exactly() -> None:
    stable = km.stable_service(SETTINGS, USER, "green")
    assert stable == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "user",
            "namespace": "course-prod",
            "labels": {**COMMON, "coursectl.io/role": "stable"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {
                "app.kubernetes.io/name": "user",
                "app.kubernetes.io/managed-by": "coursectl",
                "coursectl.io/slot": "green",
            },
            "ports": [{"name": "http", "port": 8001, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    both = km.stable_service(SETTINGS, USER, None)
    assert both["spec"]["selector"] == {
        "app.kubernetes.io/name": "user",
        "app.kubernetes.io/managed-by": "coursectl",
    }
    preview = km.preview_service(SETTINGS, USER, "blue")
    assert preview["metadata"]["name"] == "user-preview"
    assert preview["metadata"]["labels"]["coursectl.io/role"] == "preview"
    assert preview["spec"]["selector"]["coursectl.io/slot"] == "blue"


def test_hpa_pdb_and_network_policy_exactly() -> None:
    assert km.hpa(SETTINGS, USER, "green")["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "user-green"},
        "minReplicas": 3,
        "maxReplicas": 6,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    }
    assert km.pdb(SETTINGS, USER)["spec"] == {
        "minAvailable": 1,
        "selector": {
            "matchLabels": {"app.kubernetes.io/name": "user", "app.kubernetes.io/managed-by": "coursectl"}
        },
    }
    assert km.network_policy(SETTINGS, USER)["spec"] == {
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/name": "user", "app.kubernetes.io/managed-by": "coursectl"}
        },
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "course"}}},
                ],
                "ports": [{"protocol": "TCP", "port": 8001}],
            }
        ],
    }


def test_a_network_policy_that_admits_no_one_denies_everything() -> None:
    """An empty ``from`` would admit every source: with nothing declared, the rule list is empty instead."""
    closed = km.Settings(namespace="n", environment="e", ingress_namespace=None, monitoring_namespace=None)
    assert km.network_policy(closed, km.ServiceInfo("user", 8001))["spec"]["ingress"] == []


def test_canary_ingress_exactly() -> None:
    settings = km.Settings(namespace="course-prod", environment="prod", ingress_host="course.example.org")
    ing = km.canary_ingress(settings, USER, 20)
    assert ing["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
        "nginx.ingress.kubernetes.io/canary-weight-total": "100",
    }
    assert ing["spec"] == {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "course.example.org",
                "http": {
                    "paths": [
                        {
                            "path": "/api/user",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "user-preview", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }
    with pytest.raises(km.ManifestError):
        km.canary_ingress(settings, USER, 101)


def test_recreate_strategy_and_a_secret_in_another_secret() -> None:
    settings = km.Settings(
        namespace="n",
        environment="e",
        strategy="recreate",
        secret_keys={"CONTENT_SIGNING_KEY": ("content-keys", "signing-key")},
    )
    svc = km.ServiceInfo("content", 8006, secrets=("CONTENT_SIGNING_KEY", "JWT_SECRET"))
    dep = km.deployment(settings, svc, km.SlotRequest("content", "blue", "2", "r/content:2", DIGEST))
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {
            "name": "CONTENT_SIGNING_KEY",
            "valueFrom": {"secretKeyRef": {"name": "content-keys", "key": "signing-key"}},
        },
        {"name": "JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": "course-platform", "key": "JWT_SECRET"}}},
    ]


def test_no_secret_value_can_reach_a_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The builders take secret names only; a value set in the environment appears nowhere."""
    monkeypatch.setenv("JWT_SECRET", "s3cr3t-value-never-rendered")
    objs = km.environment_objects(SETTINGS, {"user": USER}, [REQ], live={"user": "green"}, traffic="ingress-nginx")
    assert "s3cr3t-value-never-rendered" not in json.dumps(objs)
    with pytest.raises(km.ManifestError, match="JWT_SECRET of user come from a Secret"):
        km.configmap(SETTINGS, USER, km.SlotRequest("user", "blue", "1", "r/u:1", DIGEST, env={"JWT_SECRET": "x"}))


def test_image_by_digest() -> None:
    assert km.image_by_digest("127.0.0.1:5000/ns/user:1.0", DIGEST) == "127.0.0.1:5000/ns/user@" + DIGEST
    assert km.image_by_digest("user", DIGEST) == "user@" + DIGEST
    assert km.image_by_digest("r/user@" + DIGEST, "sha256:other") == "r/user@" + DIGEST
    assert km.image_by_digest("r/user:1", None) == "r/user:1"


@pytest.mark.parametrize("value", ["1.4.0", "abc123def456-dirty", "v1_2", "a" * 63])
def test_label_values_accepted(value: str) -> None:
    assert km.label_value(value, "version") == value


@pytest.mark.parametrize("value", ["", "-x", "x-", "a" * 64, "1.0+build", "a/b"])
def test_label_values_refused_with_the_reason(value: str) -> None:
    with pytest.raises(km.ManifestError, match="cannot be a Kubernetes label value"):
        km.label_value(value, "version")


def test_the_template_hash_changes_with_the_pods_only() -> None:
    a = km.deployment(SETTINGS, USER, REQ)
    b = km.deployment(SETTINGS, USER, km.SlotRequest(**{**REQ.__dict__, "rollout_id": "other", "replicas": 1}))
    c = km.deployment(SETTINGS, USER, km.SlotRequest(**{**REQ.__dict__, "env": {"X": "1"}}))
    assert a["metadata"]["annotations"][km.ANN_HASH] == b["metadata"]["annotations"][km.ANN_HASH]
    assert a["metadata"]["annotations"][km.ANN_HASH] != c["metadata"]["annotations"][km.ANN_HASH]


def test_environment_objects_and_file_names() -> None:
    objs = km.environment_objects(
        SETTINGS,
        {"user": USER},
        [REQ],
        live={"user": "green"},
        traffic="ingress-nginx",
        rules=[km.Rule("apps", ("deployments",), ("get",))],
    )
    assert [km.file_name(o) for o in objs] == [
        "configmap-user-green.yaml",
        "deployment-user-green.yaml",
        "service-user.yaml",
        "service-user-preview.yaml",
        "horizontalpodautoscaler-user.yaml",
        "poddisruptionbudget-user.yaml",
        "networkpolicy-user.yaml",
        "ingress-user-canary.yaml",
        "serviceaccount-coursectl-deployer.yaml",
        "role-coursectl-deployer.yaml",
        "rolebinding-coursectl-deployer.yaml",
    ]
    text = km.to_yaml(objs)
    assert text.count("\n---\n") == len(objs) - 1 or text.count("---\n") == len(objs) - 1
