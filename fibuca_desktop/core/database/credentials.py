"""Where a database password comes from, in libpq's order, then the OS keyring.

The URL's password, then ``PGPASSWORD``, then ``~/.pgpass`` (or ``PGPASSFILE``) are libpq's own:
when the URL has no password SQLAlchemy passes none, and libpq finds it. Only when libpq reports
"no password supplied" is the OS keyring asked (service ``fibuca-desktop``, user name
``USER@HOST:PORT/DATABASE``). ``keyring`` is optional; without it, or without a usable backend,
the error says so. A password found is handed to libpq for that one connection and never kept.
"""

from __future__ import annotations

import logging

from fibuca_desktop.core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

KEYRING_SERVICE = "fibuca-desktop"


def keyring_entry(user: str, server: str) -> str:
    """The keyring user name for a login: ``user@host:port/database``."""
    return f"{user}@{server}"


def keyring_password(entry: str) -> tuple[str | None, str]:
    """The stored password for ``entry``, or None and why not (for the error message)."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None, "the keyring package is not installed"
    try:
        password = keyring.get_password(KEYRING_SERVICE, entry)
    except (KeyringError, RuntimeError) as error:  # no backend, locked, ...
        log.info("keyring not usable: %s", type(error).__name__)
        return None, f"the OS keyring is not usable here ({type(error).__name__})"
    if password is None:
        return None, f"the OS keyring has no entry {KEYRING_SERVICE!r} / {entry!r}"
    return password, "found in the OS keyring"


def connect_with_keyring(dbapi, cparams: dict, user: str, server: str):
    """Connect as libpq would; if it found no password, retry once with the keyring's.

    Raises ``DatabaseUnavailable`` naming every place looked in when there is no password at all.
    """
    try:
        return dbapi.connect(**cparams)
    except dbapi.OperationalError as error:
        if "no password supplied" not in str(error) or "password" in cparams:
            raise
        password, reason = keyring_password(keyring_entry(user, server))
        if password is None:
            raise DatabaseUnavailable(
                f"The server {server} wants a password for user {user!r} and none was found: "
                "put it in the URL, in PGPASSWORD, in ~/.pgpass (or the file PGPASSFILE names), "
                f"or in the OS keyring (service {KEYRING_SERVICE!r}, user "
                f"{keyring_entry(user, server)!r}); {reason}."
            ) from None
    return dbapi.connect(**cparams, password=password)
