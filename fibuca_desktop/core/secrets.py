"""Secrets (bearer tokens, database passwords) in the OS keyring, never in files or logs.

The ``keyring`` package picks the platform's store (Windows Credential Locker, macOS Keychain,
Secret Service on Linux desktops). Where there is none (a headless server, a CI runner), reads
give None and ``save_secret`` raises ``SecretStoreUnavailable`` with what to do instead, so the
caller can keep the secret in memory for the session.
"""

from __future__ import annotations

import logging

from fibuca_desktop.core.errors import FibucaError

log = logging.getLogger(__name__)


class SecretStoreUnavailable(FibucaError):
    """No OS keyring can keep the secret; the message says what to use instead."""


def read_secret(service: str, user: str) -> str | None:
    """The stored secret, or None when absent or when no keyring is available; never raises."""
    try:
        import keyring  # imported on use: it probes backends, which costs start-up time

        value = keyring.get_password(service, user)
    except Exception as error:  # ImportError, NoKeyringError, a locked or broken backend
        log.debug("no secret from keyring service %r: %s", service, type(error).__name__)
        return None
    return (value.strip() or None) if isinstance(value, str) else None


def save_secret(service: str, user: str, secret: str) -> None:
    """Keep ``secret`` in the OS keyring; raises ``SecretStoreUnavailable`` when it cannot."""
    try:
        import keyring

        keyring.set_password(service, user, secret)
    except Exception as error:
        log.debug("keyring refused to store for %r: %s", service, type(error).__name__)
        raise SecretStoreUnavailable(
            "No OS keyring is available to keep the token "
            f"({type(error).__name__}). It is used for this session only; to keep it, set an "
            "environment variable and name it in the target, or install a keyring service "
            "(Secret Service on Linux)."
        ) from None


def delete_secret(service: str, user: str) -> None:
    """Forget a stored secret; nothing happens when there is none or no keyring."""
    try:
        import keyring

        keyring.delete_password(service, user)
    except Exception as error:
        log.debug("keyring delete for %r: %s", service, type(error).__name__)
