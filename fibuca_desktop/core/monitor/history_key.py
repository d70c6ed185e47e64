"""Which history belongs to which target: a key from what the target watches.

Its own module so the store needs nothing of the settings but this one function, and the key
rules (no secrets, stable across renames) are read in one place.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from .targets import LOCAL, PM2, MonitorTarget


def target_key(target: MonitorTarget) -> str:
    """A stable key for ``target``'s history, from what it watches, never its name (a rename
    keeps the history) and never a secret: the URL loses its user and password, and a query
    string (which may carry an API key) is kept only as a hash.

    ``health:http://127.0.0.1:3000/health``, ``local:name:node+children``, ``local:this-app``,
    ``pm2:api``.
    """
    if target.kind == PM2:
        return f"pm2:{(target.pm2_app or '').strip()}"
    children = "+children" if target.include_children else ""
    if target.kind == LOCAL:
        if target.process_name:
            return f"local:name:{target.process_name.strip()}{children}"
        if target.pid is not None:
            return f"local:pid:{target.pid}{children}"
        return "local:this-app"
    parts = urlsplit((target.url or "").strip())
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    query = ""
    if parts.query:
        query = "?sha256=" + hashlib.sha256(parts.query.encode()).hexdigest()[:16]
    return f"{target.kind}:{parts.scheme.lower()}://{host}{port}{parts.path or '/'}{query}"
