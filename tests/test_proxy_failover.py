"""Three replicas behind a real L7 gRPC proxy (nginx), one killed under load: nothing lost.

The deployment puts replicas behind a load balancer that speaks gRPC, not
only behind the client's own round robin (tests/test_failover.py). Here
nginx (Debian's nginx-light: `grpc_pass`) fronts three `python -m whatsapp_errors.server`
processes; the client library sees one address. Unary calls run in threads
and a long ClassifyStream is under way when the replica carrying the
stream is killed (SIGKILL, then in a second run SIGTERM with a grace
shorter than the rest of the stream): every item comes back once and in
order, and no unary call fails after the client's retries.

Through a proxy a SIGKILL reaches the client as RST_STREAM INTERNAL_ERROR
(nginx cannot send the trailers of a stream its upstream dropped): the
client resends the unanswered batches after that transport reset as after
UNAVAILABLE (client/stream_state.py `resendable`). A SIGTERM is clean for
the stream, but the unary calls that race the server's stop() are ended
CANCELLED by grpc.aio before any handler sees them (without a proxy too:
tests/test_failover.py); the channel's retry policy (service_config.json)
retries CANCELLED, which gRPC never does for a call the client cancelled
itself. Skipped, with the reason, where nginx is not installed (.ci/run
installs it).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import free_port, wait_serving
from tests.test_decision_table import status_webhook
from tests.test_failover import streams_started
from tests.test_replicas import Replica, start_replica
from whatsapp_errors.client import ErrorClient

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx-light; CI installs it)"
)
STATUS_WEBHOOK = status_webhook(131047)
STREAM_ITEMS = 40_000
GRACE_SECONDS = 0.5
"""The replicas' drain on SIGTERM (--grace)."""

CONFIG = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream replicas {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{
            grpc_pass grpc://replicas;
            grpc_next_upstream error timeout http_502 http_503;
            grpc_connect_timeout 2s;
            grpc_read_timeout 60s;
            grpc_send_timeout 60s;
            client_max_body_size 0;
            # A dead upstream as a gRPC Trailers-Only UNAVAILABLE, which clients may retry,
            # instead of an HTTP 502 (whose headers commit the call: no retry).
            error_page 502 503 504 = @unavailable;
        }}
        location @unavailable {{
            default_type application/grpc;
            add_header grpc-status 14 always;
            add_header grpc-message "upstream unavailable" always;
            return 204;
        }}
    }}
}}
"""


class Proxy:
    """nginx on a free port in front of `replicas`, run from a private prefix."""

    def __init__(self, root: Path, replicas: list[Replica]) -> None:
        self.port = free_port()
        servers = "\n".join(
            f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=10s;" for r in replicas
        )
        config = root / "nginx.conf"
        config.write_text(CONFIG.format(root=root, servers=servers, port=self.port))
        assert NGINX is not None
        self.popen = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(config), "-e", str(root / "error.log")],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.root = root
        wait_serving(self.port, timeout=20)

    def stop(self) -> str:
        self.popen.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        return (self.root / "error.log").read_text(errors="replace")


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[Proxy, list[Replica]]]:
    replicas = [
        start_replica("--grace", str(GRACE_SECONDS), stderr=subprocess.DEVNULL) for _ in range(3)
    ]
    proxy: Proxy | None = None
    try:
        for replica in replicas:
            wait_serving(replica.port, timeout=30)
        proxy = Proxy(tmp_path, replicas)
        yield proxy, replicas
    finally:
        if proxy is not None:
            proxy.stop()
        for replica in replicas:
            if replica.popen.poll() is None:
                replica.popen.kill()
            replica.popen.wait()


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_a_replica_behind_nginx_loses_nothing(
    behind_nginx: tuple[Proxy, list[Replica]], kill: signal.Signals
) -> None:
    proxy, replicas = behind_nginx
    failures: list[BaseException] = []
    unary_done = 0
    stop = threading.Event()

    with ErrorClient(f"127.0.0.1:{proxy.port}", timeout=20) as client:
        client.wait_ready()

        def unary_load() -> None:
            nonlocal unary_done
            while not stop.is_set():
                try:
                    reply = client.classify(131047)
                    assert reply.classifications[0].error_info.code == 131047
                    unary_done += 1
                except BaseException as exc:  # collected, reported by the test
                    failures.append(exc)
                    if len(failures) >= 10:  # a broken channel fails at once: stop counting
                        return

        threads = [threading.Thread(target=unary_load) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            ids: list[str] = []
            victim: Replica | None = None
            before_kill = 0
            for result in client.classify_stream(STATUS_WEBHOOK for _ in range(STREAM_ITEMS)):
                assert result.status.code == 0, result.status.message
                ids.append(result.id)
                if len(ids) == STREAM_ITEMS // 4:
                    carriers = [r for r in replicas if streams_started(r) > 0]
                    assert len(carriers) == 1, "one stream, one replica"
                    victim = carriers[0]
                    before_kill = unary_done
                    victim.popen.send_signal(kill)
                    if kill == signal.SIGTERM:
                        # Reading nothing for longer than the drain keeps the rest of the
                        # stream longer than the grace however fast the replica is: its stop()
                        # ends the stream, which must move on (asserted below).
                        time.sleep(2 * GRACE_SECONDS)
            time.sleep(0.5)  # unary calls keep going on the survivors
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

    assert victim is not None
    assert victim.popen.wait(timeout=15) in (-signal.SIGKILL, 0)
    assert failures == []
    assert ids == [str(i) for i in range(STREAM_ITEMS)]  # every item once, in order
    assert unary_done > before_kill
    survivors = [r for r in replicas if r is not victim]
    assert sum(streams_started(r) for r in survivors) >= 1  # the stream moved on
