"""The demo's operator: a key kept in the data folder and a link that signs a browser in.

The operator page needs an operator key; a new user of the demo has none and should not have to
find the database's port to run `wqmon apikey create`. So the demo makes one key with the role
`operator` named "demo operator", keeps its token in `<data dir>/operator-key` (mode 0600, next
to the demo's own database, which holds only simulated data), reuses it on the next run while
the database still knows it, and prints `http://127.0.0.1:8000/#key=TOKEN`. The page takes the
key from the fragment, stores it like a typed one and removes it from the address bar. A
fragment is never sent to a server, so the token does not land in any access log.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psycopg

from wqmon.api.keys import create_key, token_hash

KEY_FILE = "operator-key"
KEY_NAME = "demo operator"


def _known(database_url: str, token: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM api_key WHERE token_sha256 = %s AND role = 'operator' "
            "AND revoked_at IS NULL",
            (token_hash(token),),
        ).fetchone()
    return row is not None


def demo_operator_key(database_url: str, data_dir: Path) -> tuple[str, bool]:
    """The demo operator's token, and whether it was made just now."""
    path = data_dir / KEY_FILE
    with contextlib.suppress(OSError):
        token = path.read_text().strip()
        if token and _known(database_url, token):
            return token, False
    token = create_key(database_url, name=KEY_NAME, role="operator")
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def sign_in_link(api_url: str, token: str) -> str:
    return f"{api_url}/#key={token}"
