"""JSON-RPC with the agents (relay/agent/jsonrpc.py): answers matched to requests, and a request
the agent never answers."""

from __future__ import annotations

from typing import Any

from protocol import messages as m
from relay.agent.jsonrpc import TIMED_OUT, RpcChannel
from tests.agents.golden import translator_for


def test_an_unanswered_request_times_out_and_a_late_answer_is_handed_back() -> None:
    sent: list[dict[str, Any]] = []
    limits: list[tuple[int, float]] = []
    rpc = RpcChannel(
        sent.append, "2.0", expect=lambda request_id, s: limits.append((request_id, s))
    )
    request_id = rpc.request("session/load", {"sessionId": "s"}, timeout_s=0.05)
    assert limits == [(request_id, 0.05)]  # the driver's timer
    answer = rpc.expire(request_id)
    assert answer is not None and answer.error is not None
    assert answer.error.code == TIMED_OUT
    assert answer.error.message == "no answer to session/load in 0.05 s"
    late = {"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}
    assert rpc.answer_to(late) is None  # nobody waits for it any more: kept as raw
    assert rpc.expire(request_id) is None


def test_an_answer_in_time_is_the_result() -> None:
    sent: list[dict[str, Any]] = []
    rpc = RpcChannel(sent.append, "2.0")
    request_id = rpc.request("initialize", timeout_s=5)
    answer = rpc.answer_to({"jsonrpc": "2.0", "id": request_id, "result": {"ok": True}})
    assert answer is not None and (answer.method, answer.result) == ("initialize", {"ok": True})
    assert rpc.expire(request_id) is None  # answered: its time limit no longer matters


def test_a_session_load_without_answer_starts_a_new_conversation_and_says_so(
    tmp_path: Any,
) -> None:
    translator, record = translator_for("acp", tmp_path, resume="conv-1")
    translator.start()
    caps = {"agentCapabilities": {"loadSession": True}}
    translator.on_message({"jsonrpc": "2.0", "id": 1, "result": caps})
    assert [s["method"] for s in record.sent] == ["initialize", "session/load"]
    translator.expired(2)
    assert record.sent[-1]["method"] == "session/new"
    (error,) = record.of(m.Error)
    assert error.message == "cannot resume the conversation: no answer to session/load in 30 s"
    translator.on_message({"jsonrpc": "2.0", "id": 2, "result": {}})  # too late
    assert record.of(m.Native)[-1].type == "unexpected_response"
    translator.on_message({"jsonrpc": "2.0", "id": 3, "result": {"sessionId": "new-1"}})
    assert record.is_ready and record.tokens == ["new-1"]
