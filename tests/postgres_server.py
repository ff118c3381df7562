"""A real PostgreSQL server for the tests: Debian's, in a temporary folder, on a
loopback port, started as an unprivileged user when the tests run as root
(PostgreSQL refuses to run as root), and stopped afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


def _bin() -> str:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed (./lab installs Debian's postgresql)")
    return os.path.dirname(found[-1])


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the DSN of a fresh server's ``postgres`` database."""
    bindir = _bin()
    root = tempfile.mkdtemp(prefix="symphony-pg-")
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        run_as = {"user": "nobody", "group": "nogroup"}
        shutil.chown(root, "nobody", "nogroup")
    data = os.path.join(root, "data")
    port = _port()
    subprocess.run(
        [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
         "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True, **run_as,
    )  # fmt: skip
    log = open(os.path.join(root, "server.log"), "wb")  # noqa: SIM115  # closed on the way out
    server = subprocess.Popen(
        [f"{bindir}/postgres", "-D", data, "-k", root, "-h", "127.0.0.1", "-p", str(port), "-F"],
        stdout=log, stderr=subprocess.STDOUT, **run_as,
    )  # fmt: skip
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(dsn, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(root, "server.log")) as f:
                        raise RuntimeError(f"PostgreSQL did not start:\n{f.read()}") from None
                time.sleep(0.2)
        yield dsn
    finally:
        server.terminate()  # SIGTERM: PostgreSQL's smart shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(dsn: str) -> str:
    """A new empty database on the server; its DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a name made above, not input
    return dsn.replace("dbname=postgres", f"dbname={name}")
