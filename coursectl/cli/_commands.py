"""Every command of coursectl: its module in coursectl/cli, how the module attaches it, its help.

Data for the lazy root group (coursectl/cli/_lazy.py), which lists the commands from here without importing
them. Generated from the commands themselves: tests/cli/test_cli_startup.py fails when a command or its help
changes; regenerate with ``python -m coursectl.cli._lazy``.
"""

from __future__ import annotations

# name -> (module, "group" (its app) | "register" (its register(app)) | a function's name, first help paragraph)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "history": (
        "history",
        "register",
        "Show recorded builds, scans, deployments, rollout steps, rollbacks, backups and locks.",
    ),
    "logs": (
        "logs",
        "logs",
        "Merge the JSON logs of every slot of SERVICE (or of every service) in time order.",
    ),
    "build": (
        "build",
        "register",
        "Build service images (several at once), tag them by policy, and with --push push them.",
    ),
    "push": (
        "build",
        "register",
        "Push the images built for the current commit: every tag; what the registry has is a no-op.",
    ),
    "images": (
        "build",
        "register",
        "List a service's images in the registry: tags, digests, push times, and which environment runs which.",
    ),
    "scan": (
        "scan",
        "register",
        "Scan images (or folders) with Trivy and Snyk, then apply the policy.",
    ),
    "quality-gate": (
        "quality_gate",
        "register",
        "Wait for SonarQube's analysis, then print the quality gate: exit 0 OK, 6 ERROR, 5 failed task or "
        "timeout.",
    ),
    "deploy": (
        "deploy",
        "register",
        "Deploy SERVICE(s): start the new version beside the old, check it, shift traffic, analyse, finish.",
    ),
    "status": (
        "status",
        "register",
        "Per service: live version, digest, slots, weights, health, lock (works without Prometheus/registry).",
    ),
    "rollback": (
        "status",
        "register",
        "Back to the previous good version: a switch to the warm colour, else a fast redeploy (no analysis).",
    ),
    "release": (
        "release",
        "register",
        "Release the platform to an environment: changed services are built, scanned, pushed and rolled out "
        "in\nwaves with the environment's strategy (release.order / depends_on; release.parallel at a time "
        "within a\nwave), the environment's load test runs, then the user journey through the edge. With "
        "release.on_failure:\nrollback-all (the default of protected environments) a failed service aborts "
        "the rest of its wave and rolls\nevery service already promoted back, the last wave first. Exit 7 "
        "when a rollout failed (rolled back or\nkept), 6 when a gate (scan, load test, journey) blocked it "
        "or a rollout stopped paused for a human, 8 when\nanother release runs. `release resume|abort` "
        "carries on or undoes a release that was killed (`abort` also stops\none running elsewhere and "
        "waits for it to roll back);\n`release status [ID]` and `release list` show recorded ones.",
    ),
    "journey": (
        "journey",
        "register",
        "Register, log in, browse, and a student refused what is an instructor's — through the edge. Exit 0 "
        "when\nevery step passed, 6 when one failed (the gate of a smoke or end-to-end stage).",
    ),
    "loadtest": (
        "loadtest",
        "register",
        "Send RPS requests a second for DURATION on the journey's read paths; exit 0 when p95 latency, "
        "error rate\nand the rate reached are within the thresholds, 6 when one is not (the figures in JSON "
        "and JUnit). Options\nnot given come from the environment's release.load settings (else the "
        "defaults shown).",
    ),
    "test": (
        "testsuite",
        "register",
        "Run the platform's unit or integration tests with pytest: exit 0 passed, 6 failed (a gate), 4 "
        "nothing to\nrun, 5 pytest itself failed. The JUnit report is written in every case.",
    ),
    "cli-spec": (
        "spec",
        "register",
        "Print coursectl's command line as data: every command, option, argument and choice (use -o json).",
    ),
    "config": (
        "config",
        "group",
        "Check and print the release configuration.",
    ),
    "sandbox": (
        "sandbox",
        "group",
        "The local sandbox: Docker engine, registry, Prometheus and base image.",
    ),
    "lock": (
        "lock",
        "group",
        "Inspect and manage deploy locks.",
    ),
    "metrics": (
        "metrics",
        "group",
        "DORA metrics and the platform's key success metrics.",
    ),
    "ledger": (
        "ledger",
        "group",
        "Import and export deployment history (JSONL); check or initialise the ledger.",
    ),
    "rollout": (
        "rollout",
        "group",
        "Follow and steer a progressive rollout.",
    ),
    "notify": (
        "notify",
        "group",
        "Notifications: test the channels, announce a CI build, show the routing.",
    ),
    "sbom": (
        "sbom",
        "group",
        "Software bills of materials (syft): `coursectl sbom SERVICE` makes one and checks its licences; "
        "`coursectl sbom diff SERVICE A B` shows what changed between two versions.",
    ),
    "backup": (
        "backup",
        "group",
        "Encrypted backups of databases, Jenkins and the ledger, proven by restoring them.",
    ),
    "k8s": (
        "k8s",
        "group",
        "The kubernetes target: manifests coursectl owns.",
    ),
    "observability": (
        "observability",
        "group",
        "Observability as code: SLO alert rules, Alertmanager, dashboards, the alert receiver.",
    ),
}
