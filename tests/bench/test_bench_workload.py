"""The benchmark's bodies, its oracle and its answer checks: a wrong answer never gives a rate.

`expected_codes` reads the codes the generator wrote with orjson and knows no
other shape; every in-process candidate (pywa included) and every stream
answer is checked against it, and a wrong answer raises.
"""

from __future__ import annotations

import json

import pytest
from pywa.errors import WhatsAppError

from bench import answers, workload
from bench.loadgen import StreamAnswers
from bench.names import CLASSIFY_STREAM
from tests.support.webhooks import Mix, mixed_payloads
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.ops.metrics import NoMetrics
from whatsapp_errors.server.rpc.batch import answer_batch
from whatsapp_errors.server.rpc.wire import WireEncoder
from whatsapp_errors.v1 import error_catalog_pb2 as pb


def _codes_written(body: bytes) -> list[int]:
    """The codes of a generated body, found by a text scan (not the oracle's walk)."""
    text = body.decode()
    found = []
    for part in text.split('"code":')[1:]:
        found.append(int(part.split(",", 1)[0].split("}", 1)[0]))
    return found


def test_failed_status_bodies_are_one_failed_status_with_one_error_each() -> None:
    bodies = workload.failed_status_payloads(300)
    assert len(bodies) == len(set(bodies)) == 300
    assert workload.failed_status_payloads(100) == bodies[:100]  # one seeded sequence
    for body in bodies:
        status = json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"]
        assert len(status) == 1 and status[0]["status"] == "failed"
        assert workload.expected_codes(body) == (status[0]["errors"][0]["code"],)
    assert workload.payloads("failed", 50) == bodies[:50]
    with pytest.raises(ValueError, match="no bodies named"):
        workload.payloads("nope", 1)


def test_the_oracle_reads_every_generated_shape() -> None:
    mix = Mix(20, 20, 20, 20, 10, 10)
    for body in mixed_payloads(400, mix=mix):
        assert list(workload.expected_codes(body)) == _codes_written(body)


def test_the_oracle_refuses_a_shape_it_does_not_know() -> None:
    odd = {"entry": [{"changes": [{"value": {"errors": [{"code": 1}]}}]}]}
    with pytest.raises(ValueError, match="does not know"):
        workload.expected_codes(json.dumps(odd).encode())


def test_pywa_answers_with_its_own_error_objects() -> None:
    classify = workload.pywa_classifier()
    for body in mixed_payloads(200):
        found = classify(body)
        assert all(isinstance(error, WhatsAppError) for error in found)
        assert workload.pywa_codes(found) == workload.expected_codes(body)
    graph = classify(b'{"error":{"code":131047,"message":"Re-engagement message"}}')
    assert graph[0].code == 131047 and graph[0].message == "Re-engagement message"
    assert type(graph[0]) is not WhatsAppError  # pywa knows 131047: its own subclass
    assert workload.pywa_codes([object()]) == (-1,)


def test_every_candidate_agrees_with_the_oracle() -> None:
    bodies = mixed_payloads(500)
    for name, candidate in workload.candidates().items():
        runner = workload.CheckedRunner(name, candidate, bodies)
        for _ in range(2):
            runner.run(0.0)  # 256 bodies a call, going on where it stopped
        assert runner.checked == 512 and runner.position == 12


def test_a_wrong_in_process_answer_raises() -> None:
    right = workload.candidates()["pywa"]
    wrong = workload.Candidate(right.classify, lambda found: (*right.codes_of(found), 1))
    runner = workload.CheckedRunner("wrong", wrong, workload.failed_status_payloads(10))
    with pytest.raises(answers.WrongAnswerError, match="in process, wrong answered body 0"):
        runner.run(0.0)


def test_stream_expectations_follow_the_requests() -> None:
    requests, expected = workload.request_set("mixed", 250, 100)
    assert len(requests) == len(expected) == 3
    bodies = mixed_payloads(250)
    for r, raw in enumerate(requests):
        items = pb.ClassifyStreamRequest.FromString(raw).items
        assert [item.id for item in items] == [str(i) for i in range(100)]
        assert [workload.expected_codes(item.payload) for item in items] == expected[r]
        assert items[0].payload == bodies[(r * 100) % 250]


def _answers(requests: list[bytes]) -> list[bytes]:
    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))
    encoder = WireEncoder(classifier.version)
    return [
        answer_batch(
            classifier, encoder, pb.ClassifyStreamRequest.FromString(raw).items, NoMetrics()
        )
        for raw in requests
    ]


def test_stream_answers_are_checked_item_by_item_then_byte_for_byte() -> None:
    requests, expected = workload.request_set("mixed", 40, 20)
    right = _answers(requests)
    checker = StreamAnswers(CLASSIFY_STREAM, 20, expected)
    for index, answer in enumerate(right):
        checker.check(index, answer, 20, 0)
        checker.check(index, answer, 20, 1)  # the same bytes again: still right
    reply = pb.ClassifyStreamResponse.FromString(right[0])
    reply.results[3].classifications[0].error_info.code += 1
    tampered = reply.SerializeToString()
    with pytest.raises(answers.WrongAnswerError, match="unlike its checked answer"):
        checker.check(0, tampered, 20, 2)
    fresh = StreamAnswers(CLASSIFY_STREAM, 20, expected)
    with pytest.raises(answers.WrongAnswerError, match="request 0 item 3 answered"):
        fresh.check(0, tampered, 20, 0)
    with pytest.raises(answers.WrongAnswerError, match="asked 20 items, got 19 results"):
        fresh.check(1, right[1], 19, 0)
    reply = pb.ClassifyStreamResponse.FromString(right[1])
    reply.results[0].id = "7"
    with pytest.raises(answers.WrongAnswerError, match="answered id '7'"):
        fresh.check(1, reply.SerializeToString(), 20, 0)
    reply = pb.ClassifyStreamResponse.FromString(right[1])
    reply.catalog_version = ""
    with pytest.raises(answers.WrongAnswerError, match="without a catalog version"):
        fresh.check(1, reply.SerializeToString(), 20, 0)
