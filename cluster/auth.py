"""Find the Ray authentication token a client should send, the way Ray itself looks for it.

Why: since Ray 2.52 a cluster can require a static bearer token on every HTTP and RPC entry point,
and from Ray 2.59 ``ray start`` turns this on by default and writes the token to ``~/.ray/auth_token``.
A ``JobSubmissionClient`` in a process where ``RAY_AUTH_MODE`` is unset sends no token and is refused
("Missing authentication token"). Rather than flipping ``RAY_AUTH_MODE`` for the whole process we
resolve the token ourselves and pass it as an ``Authorization: Bearer`` header, which works whether
or not the cluster has auth enabled (a cluster without auth ignores the header).

Resolution order (first hit wins), the same as Ray's C++ token loader plus an explicit file:

1. ``--token-file FILE`` given on the command line (explicit beats implicit);
2. ``RAY_AUTH_TOKEN`` (the token itself, if set and non-empty);
3. ``RAY_AUTH_TOKEN_PATH`` (a file holding the token; unreadable or empty is an error, as in Ray);
4. ``~/.ray/auth_token`` (written by ``ray start --head`` / ``ray get-auth-token --generate``).

No hit means "send no token"; a cluster with auth on then refuses the request, and
``cluster.jobs`` turns that refusal into a message that lists these four places.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vocab.errors import UsageError

TOKEN_ENV_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV_VAR = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_RELATIVE_PATH = Path(".ray") / "auth_token"
AUTHORIZATION_HEADER = "Authorization"
BEARER_PREFIX = "Bearer "

WHERE_TOKENS_ARE_LOOKED_FOR = (
    "--token-file FILE, the RAY_AUTH_TOKEN variable, a file named by RAY_AUTH_TOKEN_PATH, "
    "or ~/.ray/auth_token (print the cluster's token on its head node with `ray get-auth-token`)"
)


@dataclass(frozen=True)
class ResolvedToken:
    """A token and where it came from (the source is shown in messages, the token never is)."""

    token: str
    source: str  # e.g. "--token-file /x", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH=/y", "~/.ray/auth_token"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"ResolvedToken(source={self.source!r}, token=<{len(self.token)} chars>)"


def _read_token_file(path: Path, where: str) -> str:
    """Read a token file; a missing, unreadable or empty file is a usage error naming ``where``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"token file {str(path)!r} does not exist", where=where,
                         expected="a readable file holding the cluster's token") from None
    except OSError as exc:
        raise UsageError(f"cannot read token file {str(path)!r}: {exc.strerror}", where=where,
                         expected="a readable file holding the cluster's token") from None
    token = text.strip()
    if not token:
        raise UsageError(f"token file {str(path)!r} is empty", where=where,
                         expected="a file holding the cluster's token on one line")
    return token


def resolve_auth_token(
    token_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> ResolvedToken | None:
    """Return the token to send to a Ray cluster, or None when there is none anywhere.

    ``environ`` and ``home`` default to the process environment and the user's home directory;
    tests pass their own so they neither read nor write the real ``~/.ray``.
    """
    env = os.environ if environ is None else environ
    if token_file is not None:
        path = Path(token_file).expanduser()
        return ResolvedToken(_read_token_file(path, "--token-file"), f"--token-file {path}")
    env_token = env.get(TOKEN_ENV_VAR, "").strip()
    if env_token:
        return ResolvedToken(env_token, TOKEN_ENV_VAR)
    env_path = env.get(TOKEN_PATH_ENV_VAR, "")
    if env_path:
        path = Path(env_path).expanduser()
        return ResolvedToken(_read_token_file(path, TOKEN_PATH_ENV_VAR), f"{TOKEN_PATH_ENV_VAR}={path}")
    home_dir = Path(home) if home is not None else Path.home()
    default_path = home_dir / DEFAULT_TOKEN_RELATIVE_PATH
    if default_path.is_file():
        token = default_path.read_text(encoding="utf-8").strip()
        if token:
            return ResolvedToken(token, f"~/{DEFAULT_TOKEN_RELATIVE_PATH}")
    return None


def auth_headers(token: ResolvedToken | None) -> dict[str, str]:
    """HTTP headers carrying ``token`` (empty when there is no token)."""
    if token is None:
        return {}
    return {AUTHORIZATION_HEADER: BEARER_PREFIX + token.token}
