"""Token resolution follows Ray's own order, with --token-file in front (cluster/auth.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster.auth import auth_headers, resolve_auth_token
from vocab.errors import UsageError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory whose ~/.ray/auth_token holds 'from-home'."""
    (tmp_path / "home" / ".ray").mkdir(parents=True)
    (tmp_path / "home" / ".ray" / "auth_token").write_text("from-home\n")
    return tmp_path / "home"


def test_order_token_file_then_env_then_env_path_then_home(tmp_path: Path, home: Path) -> None:
    token_file = tmp_path / "explicit.token"
    token_file.write_text("from-file\n")
    path_file = tmp_path / "path.token"
    path_file.write_text("  from-path  \n")
    every_source = {"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": str(path_file)}

    resolved = resolve_auth_token(token_file, environ=every_source, home=home)
    assert (resolved.token, resolved.source) == ("from-file", f"--token-file {token_file}")
    resolved = resolve_auth_token(None, environ=every_source, home=home)
    assert (resolved.token, resolved.source) == ("from-env", "RAY_AUTH_TOKEN")
    resolved = resolve_auth_token(None, environ={"RAY_AUTH_TOKEN_PATH": str(path_file)}, home=home)
    assert (resolved.token, resolved.source) == ("from-path", f"RAY_AUTH_TOKEN_PATH={path_file}")
    resolved = resolve_auth_token(None, environ={}, home=home)
    assert (resolved.token, resolved.source) == ("from-home", "~/.ray/auth_token")


def test_empty_env_token_falls_through_and_nothing_anywhere_is_none(tmp_path: Path, home: Path) -> None:
    assert resolve_auth_token(None, environ={"RAY_AUTH_TOKEN": "  "}, home=home).token == "from-home"
    assert resolve_auth_token(None, environ={}, home=tmp_path / "empty-home") is None


def test_bad_token_files_are_usage_errors_naming_the_source(tmp_path: Path, home: Path) -> None:
    with pytest.raises(UsageError, match=r"--token-file: token file .*missing.token.* does not exist"):
        resolve_auth_token(tmp_path / "missing.token", environ={}, home=home)
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    with pytest.raises(UsageError, match=r"--token-file: token file .* is empty"):
        resolve_auth_token(empty, environ={}, home=home)
    # Like Ray, an unreadable RAY_AUTH_TOKEN_PATH is an error, not a silent fall-back to ~/.ray.
    with pytest.raises(UsageError, match=r"RAY_AUTH_TOKEN_PATH: token file .*nope.* does not exist"):
        resolve_auth_token(None, environ={"RAY_AUTH_TOKEN_PATH": str(tmp_path / "nope")}, home=home)


def test_headers_and_repr_keep_the_secret_out_of_logs(home: Path) -> None:
    resolved = resolve_auth_token(None, environ={}, home=home)
    assert auth_headers(resolved) == {"Authorization": "Bearer from-home"}
    assert auth_headers(None) == {}
    assert "from-home" not in repr(resolved)
