"""API credentials: where they may come from, and how they are kept out of logs.

Sources, highest priority first:

1. environment ``RTAID_API_KEY`` / ``RTAID_API_SECRET``;
2. ``exchange.credentials_file``: a file of ``api_key=...`` / ``api_secret=...`` lines
   that must not be readable by group or others (mode 0600 or 0400);
3. ``exchange.api_key`` / ``exchange.api_secret`` in the TOML file itself, accepted only
   when that file is mode 0600/0400.

Secrets are carried as :class:`Secret` so that ``repr``, ``str``, f-strings, JSON
encoders and structlog all see ``***``; only :meth:`Secret.reveal` gives the value.
No error message built here ever contains a secret value.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Mapping

REDACTED = "***"
ENV_API_KEY = "RTAID_API_KEY"
ENV_API_SECRET = "RTAID_API_SECRET"
CREDENTIAL_KEYS = ("api_key", "api_secret")


class Secret:
    """A string that refuses to show itself.

    Parameters
    ----------
    value : str
        The secret value. Read it back with :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret value (for signing requests, never for printing)."""
        return self._value

    def __setattr__(self, name, value):  # immutable, like the config that holds it
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        # Pickling would copy the value into places (multiprocessing queues, caches)
        # nobody audits for secrets.
        raise TypeError("Secret cannot be pickled")


def file_mode_problem(path: str, what: str) -> str | None:
    """Return why ``path`` is not private enough to hold secrets, or None if it is.

    Parameters
    ----------
    path : str
        File to check.
    what : str
        How to name the file in the message (e.g. the config key).

    Returns
    -------
    str or None
        A one-line problem description, or None when the file is owner-only.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{what}: file not found: {path}"
    except OSError as exc:
        return f"{what}: cannot stat {path}: {exc.strerror}"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return (
            f"{what}: {path} is readable by group/others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    return None


def read_credentials_file(path: str, what: str = "exchange.credentials_file"):
    """Read ``api_key=...`` / ``api_secret=...`` lines from a private file.

    Blank lines and ``#`` comments are ignored; values may be quoted.

    Parameters
    ----------
    path : str
        The credentials file; must not be readable by group or others.
    what : str
        How to name the file in messages.

    Returns
    -------
    tuple of (dict, list of str)
        The credentials found (``api_key`` / ``api_secret`` -> :class:`Secret`) and the
        problems met (empty when all is well). Problems never quote values.
    """
    problem = file_mode_problem(path, what)
    if problem:
        return {}, [problem]
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{what}: cannot read {path}: {exc}"]
    found: dict[str, Secret] = {}
    problems: list[str] = []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if name.startswith("export "):
            name = name[len("export "):].strip()
        if not sep or name not in CREDENTIAL_KEYS:
            # Only the key name is quoted: a malformed line might be a secret itself.
            shown = name if sep else "(no '=')"
            problems.append(
                f"{what}: {path} line {lineno}: expected api_key=... or api_secret=..., "
                f"got {shown!r}"
            )
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not value:
            problems.append(f"{what}: {path} line {lineno}: {name} is empty")
            continue
        found[name] = Secret(value)
    return found, problems


@dataclass(frozen=True)
class Credentials:
    """The resolved API credentials (either may be None when not configured)."""

    api_key: Secret | None
    api_secret: Secret | None


def resolve_credentials(
    toml_key: Secret | None,
    toml_secret: Secret | None,
    credentials_file: str | None,
    env: Mapping[str, str],
) -> tuple[Credentials, list[str]]:
    """Pick each credential from the highest-priority source that has it.

    Parameters
    ----------
    toml_key, toml_secret : Secret or None
        Values from the TOML file (already checked to come from a private file).
    credentials_file : str or None
        ``exchange.credentials_file``.
    env : mapping
        The environment.

    Returns
    -------
    tuple of (Credentials, list of str)
        The credentials and the problems met.
    """
    problems: list[str] = []
    from_file: dict[str, Secret] = {}
    if credentials_file:
        from_file, problems = read_credentials_file(credentials_file)
    key = _first(env.get(ENV_API_KEY), from_file.get("api_key"), toml_key)
    secret = _first(env.get(ENV_API_SECRET), from_file.get("api_secret"), toml_secret)
    return Credentials(key, secret), problems


def _first(env_value: str | None, *others: Secret | None) -> Secret | None:
    if env_value:
        return Secret(env_value)
    for value in others:
        if value:
            return value
    return None


ENV_ED25519_KEY = "RTAID_ED25519_KEY"


def resolve_ed25519_key(key_file: str | None, env: Mapping[str, str],
                        what: str = "exchange.ed25519_key_file") -> tuple[Secret | None, list[str]]:
    """The Ed25519 private key (PEM text): ``RTAID_ED25519_KEY``, else ``key_file``
    (mode 0600/0400). Whether it is a valid key is checked where it is used (the
    binance venue, at start). Problems never quote the key."""
    value = env.get(ENV_ED25519_KEY) or None
    if value is None and key_file:
        problem = file_mode_problem(key_file, what)
        if problem:
            return None, [problem]
        try:
            with open(key_file, encoding="ascii") as fh:
                value = fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            return None, [f"{what}: cannot read {key_file}: {type(exc).__name__}"]
        if not value:
            return None, [f"{what}: {key_file} is empty"]
    if value is None:
        return None, []
    if "PRIVATE KEY" not in value:
        source = ENV_ED25519_KEY if env.get(ENV_ED25519_KEY) else what
        return None, [f"{source}: expected an Ed25519 private key in PEM (-----BEGIN PRIVATE "
                      f"KEY-----)"]
    return Secret(value.strip() + "\n"), []


ENV_FREQTRADE_TOKEN = "RTAID_FREQTRADE_TOKEN"
# freqtrade's consumer puts the token in its URL unescaped (?token=...): only characters
# that need no escaping there work
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def resolve_freqtrade_token(
    token_file: str | None, env: Mapping[str, str], required: bool,
    what: str = "freqtrade.token_file",
) -> tuple[Secret | None, list[str]]:
    """The freqtrade producer's token: ``RTAID_FREQTRADE_TOKEN``, else ``token_file``.

    The file holds the token alone (surrounding whitespace is ignored) and must not be
    readable by group or others.

    Parameters
    ----------
    token_file : str or None
        ``freqtrade.token_file``.
    env : mapping
        The environment.
    required : bool
        Whether a missing token is a problem (``freqtrade.enabled``).

    Returns
    -------
    tuple of (Secret or None, list of str)
        The token and the problems met; no problem text contains the token.
    """
    problems: list[str] = []
    value = env.get(ENV_FREQTRADE_TOKEN) or None
    source = ENV_FREQTRADE_TOKEN
    if value is None and token_file:
        source = what
        problem = file_mode_problem(token_file, what)
        if problem:
            return None, [problem]
        try:
            with open(token_file, encoding="utf-8") as fh:
                value = fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            return None, [f"{what}: cannot read {token_file}: {exc}"]
        if not value:
            return None, [f"{what}: {token_file} is empty"]
    if value is None:
        if required:
            problems.append(f"freqtrade.enabled: the producer needs a token: set "
                            f"{ENV_FREQTRADE_TOKEN} or {what} (a file of mode 0600)")
        return None, problems
    if not set(value) <= _URL_SAFE:
        problems.append(f"{source}: the token may only contain letters, digits and - . _ ~ "
                        f"(freqtrade sends it unescaped in its URL)")
        return None, problems
    return Secret(value), problems
