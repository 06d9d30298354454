"""A worker fleet in real processes: its own database, a served sandbox, `coursegen worker`s.

Shared by the fleet's failover test and the fleet benchmark (`benchmarks/workers.py`).
Each scope is one TutorFlow workspace with one key on the served sandbox
(`fleet_server.py`); the workers read each target's URL from `COURSEGEN_TARGET_<NAME>`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from coursegen._ratelimit import web_share
from served import stop

if TYPE_CHECKING:
    from collections.abc import Iterator

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SERVER = str(Path(__file__).with_name("fleet_server.py"))
CREATE_PATH = "/v1/platform/courses"
JOB_DURATION = (15.0, 45.0)  # the sandbox's default span of vendor seconds per job
PENDING_DURATION = (1.0, 3.0)


class Unreachable(Exception):
    """No PostgreSQL to run a fleet on."""


@contextlib.contextmanager
def fleet_database() -> Iterator[str]:
    """A database of its own on the local PostgreSQL (dropped after): the store URL."""
    import psycopg  # noqa: PLC0415 - the postgres extra

    name = f"cg_fleet_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        raise Unreachable(str(exc).strip().splitlines()[0]) from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def key(number: int) -> str:
    return f"tf_platform_fleet_{number:03d}"


def target_name(number: int) -> str:
    return f"k{number:03d}"


@contextlib.contextmanager
def served(speed: float, rate_limit: int, keys: int) -> Iterator[dict[str, str]]:
    """The sandbox with `keys` workspaces, served; each target's URL by target name."""
    process = subprocess.Popen(  # noqa: S603 - our own script, by our own interpreter
        [sys.executable, SERVER, str(speed), str(rate_limit), str(keys)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the fleet's sandbox did not start: {line!r}")
        base = line.split(" ", 1)[1].strip()
        host = base.split("://", 1)[1]
        yield {
            target_name(n): f"tutorflow+http://{key(n)}@{host}?rate_limit={rate_limit}"
            for n in range(keys)
        }
    finally:
        stop(process)


def base_of(url: str) -> str:
    return "http://" + url.split("@", 1)[1].split("?", 1)[0]


def drop_database(store: str) -> None:
    """Drop a fleet's database under its running workers (they lose it for good)."""
    import psycopg  # noqa: PLC0415 - the postgres extra

    with psycopg.connect(ADMIN, connect_timeout=3, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{store.rsplit("/", 1)[1]}" WITH (FORCE)')


class FreezableProxy:
    """A TCP proxy to PostgreSQL that can be frozen: it stops forwarding in both
    directions and accepts connections it never forwards, while keeping every socket
    open, as a network partition looks to a client (no answer, no reset)."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def url(self, store: str) -> str:
        """`store`'s URL through this proxy."""
        return store.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def freeze(self) -> None:
        self._frozen.set()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        for sock in self._sockets:
            sock.close()

    def _run(self) -> None:
        pairs: dict[socket.socket, socket.socket] = {}
        while not self._closed.is_set():
            readable = [self._listener, *pairs] if not self._frozen.is_set() else [self._listener]
            ready, _, _ = select.select(readable, [], [], 0.1)
            for sock in ready:
                if sock is self._listener:
                    client, _ = self._listener.accept()
                    self._sockets.append(client)
                    if self._frozen.is_set():
                        continue  # accepted, never answered
                    upstream = socket.create_connection(self._target)
                    self._sockets.append(upstream)
                    pairs[client] = upstream
                    pairs[upstream] = client
                    continue
                other = pairs.get(sock)
                if other is None:
                    continue  # its pair closed it earlier in this round
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        other.sendall(data)
                    except OSError:
                        data = b""  # the other end is gone: close the pair
                if not data:
                    pairs.pop(sock, None)
                    pairs.pop(other, None)
                    sock.close()
                    other.close()


def start_worker(
    store: str,
    targets: dict[str, str],
    speed: float,
    concurrency: int = 10,
    *,
    stderr: int | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    """`coursegen worker` for every target, noticing a dead peer within seconds."""
    env = dict(os.environ)
    env.update({f"COURSEGEN_TARGET_{name.upper()}": url for name, url in targets.items()})
    args = [sys.executable, "-m", "coursegen", "worker", "--store", store]
    for name in targets:
        args += ["--target", name]
    args += ["--speed", str(speed), "--concurrency", str(concurrency)]
    args += ["--heartbeat", "0.5", "--stalled-after", "2", "--grace", "5", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)  # noqa: S603


def stop_workers(workers: list[subprocess.Popen[str]]) -> int:
    """SIGTERM each worker (a graceful stop); the store statements they say they ran."""
    statements = 0
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            for line in worker.stdout.read().splitlines():
                if "store statements" in line:
                    statements += int(line.rsplit("; ", 1)[1].split()[0])
            worker.stdout.close()
    return statements


def vendor_log(url: str) -> dict[str, Any]:
    log: dict[str, Any] = httpx.get(base_of(url) + "/_sandbox/log", timeout=30).json()
    return log


def vendor_counts(url: str) -> dict[str, int]:
    """What the vendor saw: requests (polls among them), 429s, jobs made, and creates
    that made a second job for a prompt that already had one (duplicates)."""
    log = vendor_log(url)
    made: Counter[str] = Counter()
    for request in log["requests"]:
        created = request["status"] in (201, 202)
        if request["method"] == "POST" and request["path"] == CREATE_PATH and created:
            made[json.loads(request["body"])["prompt"]] += 1
    return {
        "requests": len(log["requests"]),
        "polls": sum(1 for request in log["requests"] if request["method"] == "GET"),
        "rate_limited": sum(1 for request in log["requests"] if request["status"] == 429),
        "made": sum(made.values()),
        "duplicates": sum(count - 1 for count in made.values()),
    }


def lower_bound(per_key: int, rate_limit: int, speed: float) -> float:
    """Real seconds the vendor's limits allow at best for one key's `per_key` jobs: each
    needs its create and at least one read, in the owner's share of one pool of
    `rate_limit` a minute (the web processes keep `web_share` of it), and the last one
    still runs its shortest duration after its create."""
    requests = 2 * per_key
    share = rate_limit - web_share(rate_limit)
    vendor = requests / share * 60.0 + PENDING_DURATION[0] + JOB_DURATION[0]
    return vendor / speed


def worker_pid(owner: str) -> int:
    """The process id in an owner's name (`host-pid`)."""
    return int(owner.rsplit("-", 1)[1])


def now() -> float:
    return time.time()
