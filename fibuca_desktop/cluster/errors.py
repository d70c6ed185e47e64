"""The cluster's domain exception: one actionable line, never the broker's password."""

from __future__ import annotations

from fibuca_desktop.core.errors import FibucaError


class BrokerUnavailable(FibucaError):
    """The broker (or the result store) cannot be reached, or went away mid-batch; the message
    names it by its shown URL (password replaced) and says what to check."""
