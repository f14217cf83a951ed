"""`coursectl scan` end to end with stand-in trivy/snyk executables printing real samples with real exit codes."""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest

from coursectl.cli import main
from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from tests.conftest import DATA, FIXTURES, needs_fixtures

pytestmark = needs_fixtures

ALPINE = "trivy/alpine-39.json.golden"  # 2 CRITICAL (CVE-2019-14697 in musl, musl-utils), 4 MEDIUM
CONTAINER = "snyk/container-app-vulns/resultJsonDataNonGrouped.json"

CONFIG = """\
project: test-platform
services:
  user: {{path: services/user, port: 8001}}
registry: {{url: 127.0.0.1:5000, namespace: course-platform}}
scan: {{scanners: [{scanners}], fail_on: HIGH}}
environments:
  local: {{target: docker}}
"""


class Env:
    """A project folder, a bin folder that is the whole PATH, and helpers to run coursectl in it."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str], state: Path):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls.log"
        self.capsys = capsys
        self.state = state
        (root / "services/user").mkdir(parents=True)
        self.config(["trivy"])

    def config(self, scanners: list[str]) -> Path:
        path = self.root / "coursectl.yaml"
        path.write_text(CONFIG.format(scanners=", ".join(scanners)))
        return path

    def tool(self, name: str, *, stdout_file: str | None = None, stdout: str = "", stderr: str = "",
             code: int = 0) -> None:
        """A stand-in executable that logs its argv and prints a real sample (or given text)."""
        text = (FIXTURES / stdout_file).read_text() if stdout_file else stdout
        data = self.root / f"{name}.stdout"
        data.write_text(text)
        script = self.bin / name
        script.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"open({str(self.calls)!r}, 'a').write(' '.join(sys.argv) + '\\n')\n"
            f"sys.stdout.write(open({str(data)!r}).read())\n"
            f"sys.stderr.write({stderr!r})\n"
            f"sys.exit({code})\n"
        )
        script.chmod(0o755)

    def ignore_file(self, entries: list[dict]) -> Path:
        import yaml

        path = self.root / ".coursectl-ignore.yaml"
        path.write_text(yaml.safe_dump({"ignores": entries}))
        return path

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["-c", str(self.root / "coursectl.yaml"), "scan", "--tag", "v1", *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def events(self) -> list[LedgerEvent]:
        with open_ledger(self.state) as ledger:
            return ledger.events(kinds=["scan"], newest_first=False)


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        isolated_state: Path) -> Env:
    e = Env(tmp_path, capsys, isolated_state)
    monkeypatch.setenv("PATH", str(e.bin))  # nothing else: the real trivy/snyk/git are never found
    monkeypatch.chdir(tmp_path)
    return e


def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))


def test_schema_accepts_trivys_own_sarif() -> None:
    sarif_validator().validate(json.loads((FIXTURES / "trivy/alpine-310.sarif.golden").read_text()))


def test_fail_on_high_blocks_with_valid_sarif_and_junit(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code, out, err = env.run("--fail-on", "HIGH", "--report", "out/scan.sarif", "--report", "out/junit.xml")
    assert code == 6, err
    assert "CVE-2019-14697" in out and "BLOCKED" in out and "musl" in out
    assert "scan blocked: 2 finding(s) at or above HIGH" in err

    sarif = json.loads((env.root / "out/scan.sarif").read_text())
    sarif_validator().validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == 6
    assert sorted(r["ruleId"] for r in results if r["level"] == "error") == ["CVE-2019-14697"] * 2

    suites = ET.parse(env.root / "out/junit.xml").getroot()
    (case,) = suites.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("scan.user", "trivy")
    failure = case.find("failure")
    assert failure is not None and failure.text.count("CVE-2019-14697") == 2
    assert suites.get("failures") == "1"

    assert "trivy image --format json" in env.calls.read_text()
    assert "127.0.0.1:5000/course-platform/user:v1" in env.calls.read_text()
    (event,) = env.events()
    assert (event.outcome, event.service, event.version) == ("blocked", "user", "v1")
    assert event.details["scanner"] == "trivy" and event.details["by_severity"]["CRITICAL"] == 2


def test_ignored_criticals_pass_and_are_listed_with_reasons(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    expires = (date.today() + timedelta(days=30)).isoformat()
    env.ignore_file([{"id": "CVE-2019-14697", "reason": "musl not used by the app, TICKET-7", "expires": expires}])
    code, out, err = env.run("--fail-on", "CRITICAL", "--report", "scan.sarif", "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["outcome"] == "passed"
    ignored = [f for f in report["findings"] if f["decision"] == "ignored"]
    assert sorted(f["package"] for f in ignored) == ["musl", "musl-utils"]
    assert all(f["reason"] == "musl not used by the app, TICKET-7" for f in ignored)
    assert all(f["ignore"]["expires"] == expires for f in ignored)

    sarif = json.loads((env.root / "scan.sarif").read_text())
    sarif_validator().validate(sarif)
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 2
    assert suppressed[0]["suppressions"][0]["justification"] == "musl not used by the app, TICKET-7"
    assert [e.outcome for e in env.events()] == ["passed"]


def test_expired_ignore_entry_blocks_and_says_so(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    env.ignore_file([{"id": "CVE-2019-14697", "reason": "old", "expires": "2020-01-01"}])
    code, out, err = env.run("--fail-on", "CRITICAL")
    assert code == 6
    assert "expired on 2020-01-01" in err and "expired" in out
    code, out, _ = env.run("--fail-on", "CRITICAL", "-o", "json")
    report = json.loads(out)
    assert report["expired_ignores"][0]["id"] == "CVE-2019-14697"
    assert {f["decision"] for f in report["findings"] if f["id"] == "CVE-2019-14697"} == {"blocking"}


def test_below_threshold_passes_in_human_output(env: Env) -> None:
    env.tool("trivy", stdout_file="trivy/pip.json.golden")
    code, out, _ = env.run("--fail-on", "CRITICAL", "--kind", "fs")
    assert code == 0
    assert "PASSED" in out and "below-threshold" in out
    assert "trivy fs" in env.calls.read_text() and str(env.root / "services/user") in env.calls.read_text()


def test_findings_of_both_scanners_are_merged(env: Env) -> None:
    # The real samples share no CVE, so the Snyk container sample is edited in one place: its busybox
    # vulnerability is re-labelled as musl's CVE-2019-14697 (package and version as Trivy reports them).
    doc = json.loads((FIXTURES / CONTAINER).read_text())
    for v in doc["vulnerabilities"]:
        if v["id"] == "SNYK-ALPINE312-BUSYBOX-1089799":
            v.update(packageName="musl", version="1.1.20-r4", identifiers={"CVE": ["CVE-2019-14697"], "CWE": []})
    env.config(["trivy", "snyk"])
    env.tool("trivy", stdout_file=ALPINE)
    env.tool("snyk", stdout=json.dumps(doc), code=1)  # snyk exits 1 when it found vulnerabilities
    code, out, err = env.run("-o", "json", "--report", "junit.xml")
    assert code == 6, err
    report = json.loads(out)
    merged = [f for f in report["findings"] if f["id"] == "CVE-2019-14697" and f["package"] == "musl"]
    assert len(merged) == 1
    assert merged[0]["scanners"] == ["trivy", "snyk"]
    assert "SNYK-ALPINE312-BUSYBOX-1089799" in merged[0]["aliases"]
    assert merged[0]["severity"] == "CRITICAL"
    cases = {c.get("name"): c for c in ET.parse(env.root / "junit.xml").getroot().iter("testcase")}
    assert set(cases) == {"trivy", "snyk"}
    assert "CVE-2019-14697" in cases["snyk"].find("failure").text
    assert "snyk container test 127.0.0.1:5000/course-platform/user:v1 --json" in env.calls.read_text()
    assert sorted((e.details["scanner"], e.outcome) for e in env.events()) == [
        ("snyk", "blocked"), ("trivy", "blocked")]


def test_missing_trivy_exits_4_naming_it(env: Env) -> None:
    code, out, err = env.run()
    assert code == 4
    assert "Trivy is not installed" in err and "hint: install Trivy" in err
    assert out == ""
    assert env.events() == []
    code, _, err = env.run("-o", "json")
    lines = [json.loads(line) for line in err.splitlines()]  # -o json: stderr is JSON lines, the error last
    assert code == 4 and lines[-1]["error"]["type"] == "tool-missing"
    assert all(line["type"] in ("progress", "warning", "log") for line in lines[:-1])


def test_missing_both_names_both(env: Env) -> None:
    env.config(["trivy", "snyk"])
    code, _, err = env.run()
    assert code == 4 and "Trivy and Snyk are not installed" in err


def test_skip_missing_records_a_skip_never_a_pass(env: Env) -> None:
    code, out, err = env.run("--skip-missing", "--report", "junit.xml")
    assert code == 0, err
    assert "SKIPPED" in out and "not installed" in out
    assert "trivy skipped on user" in err
    (event,) = env.events()
    assert (event.kind, event.outcome, event.details["scanner"]) == ("scan", "skipped", "trivy")
    (case,) = ET.parse(env.root / "junit.xml").getroot().iter("testcase")
    assert case.find("skipped") is not None
    code, out, _ = env.run("--skip-missing", "-o", "json")
    assert json.loads(out)["outcome"] == "skipped"


def test_skip_missing_from_config(env: Env) -> None:
    path = env.root / "coursectl.yaml"
    path.write_text(path.read_text().replace("fail_on: HIGH", "fail_on: HIGH, skip_missing: true"))
    code, _, _ = env.run()
    assert code == 0 and env.events()[0].outcome == "skipped"


@pytest.mark.parametrize("garbage", ["panic: runtime error: index out of range\ngoroutine 1 [running]:", "{trunc"])
def test_trivy_printing_garbage_is_exit_5(env: Env, garbage: str) -> None:
    env.tool("trivy", stdout=garbage, code=0)
    code, out, err = env.run("--report", "junit.xml")
    assert code == 5
    assert "Trivy printed output that is not JSON" in err
    assert "ERROR" in out
    (event,) = env.events()
    assert event.outcome == "error"
    (case,) = ET.parse(env.root / "junit.xml").getroot().iter("testcase")
    assert case.find("error") is not None


def test_trivy_without_its_database_is_reported(env: Env) -> None:
    env.tool("trivy", code=1, stderr="2026-01-01T00:00:00Z\tFATAL\tFatal error\tinit error: DB error: "
             "failed to download vulnerability DB: OCI repository error: dial tcp: lookup ghcr.io: no such host\n")
    code, _, err = env.run()
    assert code == 5
    assert "Trivy's vulnerability database cannot be downloaded (offline?)" in err
    assert "--download-db-only" in err


@pytest.mark.parametrize(("code_", "expected"), [(2, "Snyk failed (exit code 2)"),
                                                 (3, "Snyk found no supported project (exit code 3)")])
def test_snyk_failures_are_exit_5(env: Env, code_: int, expected: str) -> None:
    env.config(["snyk"])
    env.tool("snyk", stdout='{"ok": false, "error": "Could not detect supported target files", "path": "x"}',
             code=code_)
    code, _, err = env.run()
    assert code == 5
    assert expected in err and "Could not detect supported target files" in err


def test_snyk_auth_refused_is_exit_4(env: Env) -> None:
    env.config(["snyk"])
    env.tool("snyk", stdout='{"ok": false, "error": "Authentication failed. Please check the API token"}', code=77)
    code, _, err = env.run()
    assert code == 4 and "SNYK_TOKEN" in err


def test_snyk_clean_and_policy_ignored(env: Env) -> None:
    env.config(["snyk"])
    env.tool("snyk", stdout_file="snyk/ruby-app-policy/test-result.json", code=1)
    code, out, _ = env.run("--fail-on", "CRITICAL", "-o", "json", "--kind", "fs")
    assert code == 0
    report = json.loads(out)
    (suppressed,) = [f for f in report["findings"] if f["decision"] == "suppressed"]
    assert suppressed["id"] == "SNYK-RUBY-LYNX-20160" and "will check again in 2100" in suppressed["reason"]
    env.tool("snyk", stdout_file="snyk/ruby-app-no-vulns/test-result.json", code=0)
    code, out, _ = env.run("-o", "json", "--kind", "fs")
    assert code == 0 and json.loads(out)["summary"]["findings"] == 0


def test_config_kind_skips_snyk_and_scans_misconfigurations(env: Env) -> None:
    env.config(["trivy", "snyk"])
    env.tool("trivy", stdout_file="trivy/dockerfile.json.golden")
    env.tool("snyk", stdout="{}")
    code, out, _ = env.run("--kind", "config", "-o", "json")
    assert code == 6
    report = json.loads(out)
    assert {r["scanner"]: r["status"] for r in report["runs"]} == {"trivy": "ok", "snyk": "skipped"}
    assert report["findings"][0]["id"] == "DS-0002"
    assert "bin/snyk" not in env.calls.read_text()


def test_ignore_file_accepts_old_misconfiguration_ids(env: Env) -> None:
    env.tool("trivy", stdout_file="trivy/dockerfile.json.golden")
    env.ignore_file([{"id": "AVD-DS-0002", "reason": "runs as root by design", "expires": "2999-01-01"}])
    code, _, err = env.run("--kind", "config")
    assert code == 0, err


def test_format_to_stdout(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code, out, _ = env.run("--format", "junit", "--fail-on", "CRITICAL")
    assert code == 6
    assert ET.fromstring(out).tag == "testsuites"
    code, out, _ = env.run("--format", "sarif")
    sarif_validator().validate(json.loads(out))


def test_malformed_ignore_file_is_exit_3(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    env.ignore_file([{"id": "CVE-1", "reason": "r", "expires": "2999-01-01"}, {"id": "CVE-2", "expires": "2999-01-01"}])
    code, _, err = env.run()
    assert code == 3
    assert ".coursectl-ignore.yaml" in err and "ignores.1.reason" in err


def test_report_name_without_format_is_usage_error(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code, _, err = env.run("--report", "scan.txt")
    assert code == 2 and "cannot tell the format" in err


def test_unknown_service_is_usage_error(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code, _, err = env.run("nope")
    assert code == 2 and "unknown service 'nope'" in err


def test_tag_defaults_to_the_last_build_in_the_ledger(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.tool("trivy", stdout_file="trivy/photon-30.json.golden")
    with open_ledger(env.state) as ledger:
        ledger.record(LedgerEvent(kind="build", actor="ci", service="user", version="1.4.2", outcome="ok"))
    capsys.readouterr()
    code = main(["-c", str(env.root / "coursectl.yaml"), "scan", "user", "-o", "quiet"])
    out, _ = capsys.readouterr()
    assert code == 6
    assert "127.0.0.1:5000/course-platform/user:1.4.2" in env.calls.read_text()
    assert all(line.startswith("user:CVE-") for line in out.splitlines()) and len(out.splitlines()) == 3


def test_tag_without_ledger_or_git_is_a_precondition(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code = main(["-c", str(env.root / "coursectl.yaml"), "scan"])
    _, err = capsys.readouterr()
    assert code == 4 and "--tag" in err


def test_help_lists_commands_without_heavy_imports() -> None:
    import subprocess

    code = (
        "import sys; from coursectl.cli import main; rc = main(['--help']); "
        "heavy = [m for m in ('sonarqube', 'requests', 'yaml', 'coursectl.api.scan') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "scan" in done.stdout and "quality-gate" in done.stdout
    assert "HEAVY []" in done.stdout


def test_junit_option_writes_junit_whatever_the_name(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    code, _, err = env.run("--fail-on", "HIGH", "--junit", "out/trivy-image.report")
    assert code == 6, err
    suites = ET.parse(env.root / "out/trivy-image.report").getroot()
    assert suites.tag == "testsuites" and suites.get("failures") == "1"
    before = len(env.events())
    code, _, err = env.run("--fail-on", "HIGH", "--junit", str(env.root))  # a folder: a usage error, exit 2
    assert code == 2 and "is a directory" in err
    assert len(env.events()) == before  # refused before the scan: nothing recorded


@pytest.mark.parametrize("where", ["directory", "under a file"])
def test_a_report_that_cannot_be_written_fails_before_the_scan(env: Env, where: str) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    if where == "directory":
        (env.root / "reports.sarif").mkdir()
        target, expected = env.root / "reports.sarif", "is a directory"
    else:
        (env.root / "blocker").write_text("x")
        target, expected = env.root / "blocker" / "scan.sarif", "is not a directory"
    code, out, err = env.run("--report", str(env.root / "ok.sarif"), "--report", str(target))
    assert code == 2 and expected in err and out == ""
    assert env.events() == [] and not env.calls.exists()  # the scanner never ran, nothing was recorded
    assert not (env.root / "ok.sarif").exists()


def test_an_ignore_file_with_a_latin1_byte_is_exit_3_naming_file_and_line(env: Env) -> None:
    env.tool("trivy", stdout_file=ALPINE)
    path = env.root / ".coursectl-ignore.yaml"
    path.write_bytes(b"ignores:\n  - id: CVE-2019-14697\n    reason: caf\xe9 tracked\n    expires: 2099-01-01\n")
    code, _, err = env.run()
    assert code == 3 and f"{path}: line 3, column 16: is not valid UTF-8 (byte 0xe9)" in err
    assert env.events() == []


def test_escape_sequences_in_scanner_output_are_shown_escaped(env: Env) -> None:
    sample = json.loads((FIXTURES / ALPINE).read_text())  # a real report, with a hostile package name injected
    vuln = sample["Results"][0]["Vulnerabilities"][0]
    vuln["PkgName"] = "musl\x1b[2J\nFAKE: no findings"
    (env.root / "hostile.json").write_text(json.dumps(sample))
    env.tool("trivy", stdout=(env.root / "hostile.json").read_text())
    code, out, err = env.run("--fail-on", "CRITICAL")
    assert code == 6
    assert "\x1b" not in out + err and "musl\\x1b[2J\\nFAKE: no findings" in out
    assert not any(line.startswith("FAKE") for line in (out + err).splitlines())
