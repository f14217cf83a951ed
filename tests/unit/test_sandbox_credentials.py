"""The generated registry credentials and the dotenv file they live in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from coursectl.sandbox.credentials import Credentials, ensure_credentials, merge_dotenv, parse_dotenv, read_secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two\n", {"A": "1", "B": "two"}),
        ("# comment\n\nexport A=1\n", {"A": "1"}),
        ("A=\"quoted value\"\nB='single # not a comment'\n", {"A": "quoted value", "B": "single # not a comment"}),
        ("A=plain # trailing comment\n", {"A": "plain"}),
        ('A="esc \\"q\\""\n', {"A": 'esc "q"'}),
        ("not a pair\n=novalue\nA = spaced \n", {"A": "spaced"}),
        ("A=1\nA=2\n", {"A": "2"}),
    ],
)
def test_parse_dotenv(text: str, expected: dict[str, str]) -> None:
    assert parse_dotenv(text) == expected


def test_merge_keeps_other_lines_and_replaces_in_place() -> None:
    text = "# mine\nSLACK_WEBHOOK_URL=https://x\nREGISTRY_PASSWORD=old\n\nOTHER='keep me'\n"
    merged = merge_dotenv(text, {"REGISTRY_PASSWORD": "new", "REGISTRY_USER": "coursectl"})
    assert merged == (
        "# mine\nSLACK_WEBHOOK_URL=https://x\nREGISTRY_PASSWORD=new\n\nOTHER='keep me'\nREGISTRY_USER=coursectl\n"
    )


def test_merge_quotes_values_that_need_it_and_drops_duplicates() -> None:
    merged = merge_dotenv("A=1\nA=2\n", {"A": 'has space "and quote"'})
    assert merged == 'A="has space \\"and quote\\""\n'
    assert parse_dotenv(merged) == {"A": 'has space "and quote"'}


def test_credentials_generated_once_private_and_other_lines_kept(tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text("SLACK_WEBHOOK_URL=https://hooks.example/x\n")
    first, new = ensure_credentials(tmp_path, "coursectl")
    assert new is True
    assert first.username == "coursectl" and len(first.password) >= 24
    assert stat.S_IMODE((tmp_path / "secrets.env").stat().st_mode) == 0o600
    stored = read_secrets(tmp_path)
    assert stored == {
        "SLACK_WEBHOOK_URL": "https://hooks.example/x",
        "REGISTRY_USER": "coursectl",
        "REGISTRY_PASSWORD": first.password,
    }
    again, new = ensure_credentials(tmp_path, "coursectl")
    assert (again, new) == (first, False)


def test_changing_the_user_keeps_the_password(tmp_path: Path) -> None:
    first, _ = ensure_credentials(tmp_path, "coursectl")
    second, new = ensure_credentials(tmp_path, "ci")
    assert new is True
    assert second == Credentials("ci", first.password)


def test_credentials_repr_hides_the_password() -> None:
    creds = Credentials("u", "hunter2")
    assert "hunter2" not in repr(creds)
    assert creds.auth_config() == {"username": "u", "password": "hunter2"}
