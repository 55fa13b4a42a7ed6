"""A health checker in its own process: `python -m bench.probes.health_prober TARGET`.

A load balancer or kubelet probes from outside the load, so the soak
(bench/probes/soak.py) starts this beside its load generator: a Check every
100 ms from a process whose only work is probing, so its latencies are the
server's, not the delay of a load generator's busy event loop. It probes
until its stdin closes, then prints one JSON object on stdout: the latencies
in seconds and any failed checks.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

INTERVAL_S = 0.1
TIMEOUT_S = 5.0
READY_S = 10.0


def main(argv: list[str] | None = None) -> int:
    """Probes argv[0] until stdin closes; prints {"latencies": [...], "failures": [...]}."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.probes.health_prober HOST:PORT", file=sys.stderr)
        return 2
    stop = threading.Event()

    def wait_for_stdin_to_close() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    latencies: list[float] = []
    failures: list[str] = []
    with grpc.insecure_channel(args[0]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=READY_S, wait_for_ready=True)
        except grpc.RpcError as exc:
            print(f"health prober: {args[0]} never answered: {exc.code().name}", file=sys.stderr)
            return 1
        print("ready", file=sys.stderr, flush=True)
        while not stop.is_set():
            began = time.perf_counter()
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
                latencies.append(time.perf_counter() - began)
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    failures.append(f"status {reply.status}")
            except grpc.RpcError as exc:
                failures.append(f"{exc.code().name}: {exc.details()}")
            stop.wait(INTERVAL_S)
    json.dump({"latencies": latencies, "failures": failures}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
