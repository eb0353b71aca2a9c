"""JSON-RPC with the agents (relay/agent/jsonrpc.py): a request the agent never answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relay.agent.jsonrpc import TIMED_OUT, JsonRpc, RpcError


def test_an_unanswered_request_times_out_and_a_late_answer_is_handed_back() -> None:
    sent: list[dict[str, Any]] = []
    rpc = JsonRpc(sent.append, "2.0")

    async def ask() -> None:
        with pytest.raises(RpcError) as raised:
            await rpc.request("session/load", {"sessionId": "s"}, timeout_s=0.05)
        assert raised.value.code == TIMED_OUT
        assert raised.value.message == "no answer to session/load in 0.05 s"

    asyncio.run(ask())
    late = {"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}
    assert rpc.feed(late) == late  # nobody waits for it any more: the adapter logs it as raw


def test_an_answer_in_time_is_the_result() -> None:
    rpc: JsonRpc

    def answer(message: dict[str, Any]) -> None:
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": {"ok": True}}
        asyncio.get_running_loop().call_soon(rpc.feed, reply)

    rpc = JsonRpc(answer, "2.0")
    assert asyncio.run(rpc.request("initialize", timeout_s=5)) == {"ok": True}
