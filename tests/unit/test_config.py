"""Configuration: loading, overlays, and error messages that name the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursectl.config import deep_merge, load_config
from coursectl.config.models import parse_duration
from coursectl.errors import ConfigError
from tests.conftest import REPO


def problems(exc: ConfigError) -> list[str]:
    return [str(p) for p in exc.problems]


def test_shipped_configuration_is_valid_for_every_environment() -> None:
    for env in ("local", "staging", "prod"):
        loaded = load_config(REPO / "coursectl.yaml", env)
        assert set(loaded.config.services) == {"user", "course", "payment", "enrollment", "notification", "content",
                                               "storefront"}
        assert loaded.environment.target == ("docker" if env == "local" else "kubernetes")
    assert load_config(REPO / "coursectl.yaml", "local").config.build.base_image == "coursectl/base:bookworm"
    assert load_config(REPO / "coursectl.yaml", "prod").config.build.base_image == "python:3.11-slim"


def test_found_by_searching_upward(config_file: Path) -> None:
    deep = config_file.parent / "a" / "b"
    deep.mkdir(parents=True)
    assert load_config(cwd=deep, environ={}).path == config_file


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, environ={})
    assert info.value.exit_code == 3
    assert "coursectl.yaml" in info.value.message and "not found" in info.value.message


def test_unknown_key_and_wrong_type_are_reported_together(config_file: Path) -> None:
    text = config_file.read_text().replace("{path: platform-services/user, port: 8001}",
                                           "{path: platform-services/user, port: eighty, colour: blue}")
    config_file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    found = problems(info.value)
    assert f"{config_file}: services.user.port: expected an integer, got 'eighty'" in found
    assert any(p.startswith(f"{config_file}: services.user.colour: unknown key") for p in found)
    assert len(found) == 2


def test_unknown_key_suggests_the_close_one(config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace("strategy: blue-green", "stratgy: blue-green"))
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    assert problems(info.value) == [
        f"{config_file}: environments.local.stratgy: unknown key; did you mean 'strategy'?"
    ]


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("strategy: canary,", "strategy: sideways,", "environments.prod.strategy", "expected one of"),
        ("{weight: 10, pause: 1m}", "{weight: 110, pause: 1m}", "environments.prod.steps[0].weight", "100"),
        ("{weight: 10, pause: 1m}", "{weight: 10, pause: soon}", "environments.prod.steps[0].pause", "duration"),
        ("context: prod, ", "", "environments.prod", "needs context"),
        ("url: 127.0.0.1:5000", "url: https://r.example", "registry.url", "without a scheme"),
        ("{env: DEMO_REGISTRY_PASSWORD}", "hunter2", "registry.password", "never written in the configuration"),
        ("{env: DEMO_REGISTRY_PASSWORD}", "{env: DEMO, file: /x}", "registry.password", "exactly one"),
        ("port: 8002", "port: 8001", "", "both use port 8001"),
        ("default_environment: local", "default_environment: qa", "", "not one of the environments"),
    ],
)
def test_each_invalid_value_names_its_key(
    config_file: Path, old: str, new: str, path: str, fragment: str
) -> None:
    text = config_file.read_text()
    assert old in text
    config_file.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    [problem] = info.value.problems
    assert problem.file == str(config_file)
    assert problem.path == path
    assert fragment in problem.message
    assert "hunter2" not in info.value.message


def test_yaml_syntax_error_names_line(config_file: Path) -> None:
    config_file.write_text("project: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    assert "invalid YAML" in info.value.message and "line" in info.value.message


def test_top_level_must_be_a_mapping(config_file: Path) -> None:
    config_file.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(config_file, environ={})


def test_overlay_is_merged_for_its_environment_only(config_file: Path) -> None:
    (config_file.parent / "coursectl.prod.yaml").write_text(
        "analysis: {interval: 30s}\nservices: {user: {env: {LOG_LEVEL: debug}}}\n"
    )
    prod = load_config(config_file, "prod", environ={})
    assert prod.config.analysis.interval == 30.0
    assert prod.config.services["user"].env == {"LOG_LEVEL": "debug"}
    assert prod.config.services["user"].port == 8001  # merged, not replaced
    assert prod.overlay_path == config_file.parent / "coursectl.prod.yaml"
    local = load_config(config_file, "local", environ={})
    assert local.config.analysis.interval == 10.0 and local.overlay_path is None


def test_bad_overlay_is_blamed_on_the_overlay_file(config_file: Path) -> None:
    overlay = config_file.parent / "coursectl.prod.yaml"
    overlay.write_text("analysis: {interval: 30s, failure_limt: 3}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file, "prod", environ={})
    assert problems(info.value) == [f"{overlay}: analysis.failure_limt: unknown key; did you mean 'failure_limit'?"]
    # validating without an environment still checks every overlay
    with pytest.raises(ConfigError):
        load_config(config_file, environ={})


def test_environment_from_variable_and_unknown_environment(config_file: Path) -> None:
    assert load_config(config_file, environ={"COURSECTL_ENV": "prod"}).env_name == "prod"
    with pytest.raises(ConfigError, match="no environment named 'qa'"):
        load_config(config_file, "qa", environ={})


def test_deep_merge_replaces_lists_and_merges_mappings() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2}) == {
        "a": {"b": 1, "c": [3]},
        "d": 1,
        "e": 2,
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10.0), ("1.5m", 90.0), ("250ms", 0.25), ("2h", 7200.0), (30, 30.0), ("1d", 86400.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5", -1, True, "10 parsecs"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_storefront_is_the_edges_default_and_prebuilt() -> None:
    sf = load_config(REPO / "coursectl.yaml", "local").config.services["storefront"]
    assert sf.route == "/" and sf.shared == [] and sf.prebuild is not None
    assert sf.prebuild.run[-1] == ["npm", "run", "build"] and sf.prebuild.outputs == ["dist"]
    assert "/" in sf.smoke and "/metrics" in sf.smoke


@pytest.mark.parametrize(
    ("service_yaml", "path", "fragment"),
    [
        ("{path: w, port: 9009, route: api/w}", "services.web.route", "starts and ends with '/'"),
        ("{path: w, port: 9009, route: /a/../b/}", "services.web.route", "starts and ends with '/'"),
        ("{path: w, port: 9009, prebuild: {run: []}}", "services.web.prebuild.run", "at least 1"),
        ("{path: w, port: 9009, prebuild: {run: [[]]}}", "services.web.prebuild.run", "non-empty argv"),
        ("{path: w, port: 9009, prebuild: {run: [[npm]], outputs: [../x]}}", "services.web.prebuild.outputs",
         "inside the service folder"),
    ],
)
def test_route_and_prebuild_are_checked(config_file: Path, service_yaml: str, path: str, fragment: str) -> None:
    text = config_file.read_text()
    config_file.write_text(text.replace("services:\n", f"services:\n  web: {service_yaml}\n", 1))
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    [problem] = info.value.problems
    assert problem.path == path, info.value.problems
    assert fragment in problem.message


def test_only_one_service_can_take_every_other_path(config_file: Path) -> None:
    text = config_file.read_text()
    config_file.write_text(text.replace("services:\n", "services:\n  a: {path: a, port: 9101, route: /}\n"
                                        "  b: {path: b, port: 9102, route: /}\n", 1))
    with pytest.raises(ConfigError) as info:
        load_config(config_file, environ={})
    assert "only one service can have route '/'" in info.value.message


def _every_yaml_document() -> list[Path]:
    """The YAML files of this repository: configurations, overlays, charts, templates, pipelines' data."""
    skip = {".venv", "node_modules", ".git", ".coursectl"}
    found = [p for p in REPO.rglob("*.y*ml") if not skip & set(p.relative_to(REPO).parts)]
    return sorted(p for p in found if "{{" not in p.read_text(encoding="utf-8", errors="replace"))


def test_libyaml_reads_every_document_as_the_pure_loader_does() -> None:
    """read_yaml takes libyaml's quick reader when it can; its answer must be the pure-Python loader's."""
    import yaml

    from coursectl.config import loader

    pure, quick = loader._yaml_loaders()
    assert quick is not None, "PyYAML was built with libyaml here"
    documents = _every_yaml_document()
    assert len(documents) > 10
    read = 0
    for path in documents:
        text = path.read_text(encoding="utf-8")
        try:
            expected = yaml.load(text, Loader=pure)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:  # e.g. a stream of several documents: libyaml must refuse it as well
            with pytest.raises(yaml.YAMLError):
                quick(text)
            continue
        assert quick(text) == expected, path
        read += 1
    assert read > 10


def test_without_libyaml_the_pure_loader_reads_the_configuration(monkeypatch: pytest.MonkeyPatch,
                                                                 config_file: Path) -> None:
    from coursectl.config import loader

    pure, quick = loader._yaml_loaders()
    monkeypatch.setattr(loader, "_yaml_loaders", lambda: (pure, None))
    expected = load_config(REPO / "coursectl.yaml", "local").config
    assert load_config(REPO / "coursectl.yaml", "local").config == expected
    config_file.write_text("project: demo\nproject: again\n")
    with pytest.raises(ConfigError, match="duplicate key 'project'"):
        load_config(config_file, environ={})


def test_every_problem_is_named_by_the_pure_loader_with_its_line(config_file: Path) -> None:
    """What libyaml refuses (or the limits refuse) is read again by the pure loader: one wording, a line."""
    cases = {
        "project: demo\n\tname: x\n": "invalid YAML",
        "project: demo\nproject: other\n": "duplicate key 'project' (first at line 1)",
        "project: " + "[" * 40 + "]" * 40 + "\n": "nested deeper than 32 levels",
        "project: de\x07mo\n": "unacceptable character #x0007",  # the reader names its place: "position 11"
    }
    for text, wording in cases.items():
        config_file.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(config_file, environ={})
        where = "position 11" if "\x07" in text else "line"
        assert wording in info.value.message and where in info.value.message, (text, info.value.message)
