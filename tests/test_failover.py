"""SIGKILL (or SIGTERM, a 0.5 s drain) one of three replicas mid-load: not one classification fails.

Three real `python -m whatsapp_errors.server` processes sit behind one round-robin client
(`client.ErrorClient` with a list of addresses). Unary calls keep running in
threads and a long ClassifyStream is under way when the replica carrying that
stream (found from each replica's own /metrics) is killed without warning;
the channel's retries (service_config.json: UNAVAILABLE, and CANCELLED, which
is how grpc.aio ends the calls it accepted but had not started when its stop()
begins) and resent stream batches (client/stream_state.py) must hide the loss
completely. tests/test_proxy_failover.py does the same behind nginx.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.processes import wait_serving
from tests.test_decision_table import status_webhook
from tests.test_replicas import Replica, start_replica
from whatsapp_errors.client import ErrorClient

STATUS_WEBHOOK = status_webhook(131047)
STREAM_ITEMS = 60_000
GRACE_SECONDS = 0.5
"""The replicas' drain on SIGTERM (--grace)."""


def streams_started(replica: Replica) -> float:
    return replica.sample("grpc_server_started_total", "ClassifyStream", "bidi_stream")


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for _ in range(3):
            started.append(
                start_replica(
                    "--workers", "1", "--grace", str(GRACE_SECONDS), stderr=subprocess.DEVNULL
                )
            )
        for replica in started:
            wait_serving(replica.port, timeout=30)
        yield started
    finally:
        for replica in started:
            if replica.popen.poll() is None:
                replica.popen.kill()
            replica.popen.wait()


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_the_streaming_replica_loses_no_classification(
    replicas: list[Replica], kill: signal.Signals
) -> None:
    target = ",".join(f"127.0.0.1:{r.port}" for r in replicas)
    failures: list[BaseException] = []
    unary_done = 0
    stop = threading.Event()

    with ErrorClient(target, timeout=20) as client:
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
            stream = client.classify_stream(STATUS_WEBHOOK for _ in range(STREAM_ITEMS))
            ids: list[str] = []
            victim: Replica | None = None
            for result in stream:
                assert result.status.code == 0, result.status.message
                assert result.classifications[0].error_info.code == 131047
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
    assert victim.popen.wait(timeout=10) == (-signal.SIGKILL if kill == signal.SIGKILL else 0)
    survivors = [r for r in replicas if r is not victim]
    assert sum(streams_started(r) for r in survivors) >= 1  # the stream moved on
    assert failures == []
    assert ids == [str(i) for i in range(STREAM_ITEMS)]  # every item once, in order
    assert unary_done > before_kill  # unary load went on after the kill
