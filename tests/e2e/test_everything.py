"""The reference "everything" MCP server behind the proxy: tools, progress, logging, and the
requests the server sends to the client (sampling, elicitation, roots)."""

from __future__ import annotations

import random
import string

import anyio
import pytest
from mcp import types

from harness import EVERYTHING_SERVER, STEP

pytestmark = pytest.mark.anyio

# server-everything picks its transport from argv[1]; stdio is also its default.
SERVER = [EVERYTHING_SERVER, "stdio"]
BIG_LIMIT = ["--max-message-bytes", str(8 << 20)]


def text_of(result) -> str:
    assert not result.isError, f"tool call failed: {result.content}"
    return "".join(c.text for c in result.content if c.type == "text")


async def test_tools_list_through_proxy_matches_direct(proxied, direct):
    async with direct(SERVER) as (session, init_direct):
        with anyio.fail_after(STEP):
            want = {t.name: t.model_dump(mode="json", exclude_none=True) for t in (await session.list_tools()).tools}
    async with proxied(SERVER) as (session, init):
        with anyio.fail_after(STEP):
            got = {t.name: t.model_dump(mode="json", exclude_none=True) for t in (await session.list_tools()).tools}
    assert init.serverInfo == init_direct.serverInfo
    assert init.capabilities == init_direct.capabilities
    assert {"echo", "get-sum", "trigger-long-running-operation"} <= set(want)
    assert sorted(got) == sorted(want)
    assert got == want


async def test_echo_round_trip(proxied):
    message = "hello, vanguard: ünïcödé ✓ \"quotes\" \\ back\\slash \t tab"
    async with proxied(SERVER) as (session, _):
        with anyio.fail_after(STEP):
            assert text_of(await session.call_tool("echo", {"message": message})) == f"Echo: {message}"
        with anyio.fail_after(STEP):
            result = await session.call_tool("get-sum", {"a": 20, "b": 22})
        assert "42" in text_of(result)


async def test_progress_notifications_arrive(proxied):
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async with proxied(SERVER) as (session, _):
        with anyio.fail_after(STEP):
            result = await session.call_tool(
                "trigger-long-running-operation",
                {"duration": 1, "steps": 4},
                progress_callback=on_progress,
            )
    assert "Long running operation completed" in text_of(result)
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]


async def test_logging_notifications_arrive(proxied):
    logs: list[types.LoggingMessageNotificationParams] = []
    got_one = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)
        got_one.set()

    async with proxied(SERVER, logging_callback=on_log) as (session, _):
        with anyio.fail_after(STEP):
            await session.set_logging_level("debug")
            text = text_of(await session.call_tool("toggle-simulated-logging", {}))
        assert "Started simulated" in text
        # The tool sends one message at once, then one every 5 s.
        with anyio.fail_after(STEP):
            await got_one.wait()
        with anyio.fail_after(STEP):
            await session.call_tool("toggle-simulated-logging", {})
    assert logs[0].level in {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
    assert "message" in str(logs[0].data)


async def test_sampling_request_from_server_is_answered_through_proxy(proxied):
    seen: list[types.CreateMessageRequestParams] = []

    async def sample(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled answer 7f3a"),
            model="e2e-model",
            stopReason="endTurn",
        )

    async with proxied(SERVER, sampling_callback=sample) as (session, _):
        with anyio.fail_after(STEP):
            names = {t.name for t in (await session.list_tools()).tools}
        # Registered only for clients that declared sampling: the capability went through.
        assert "trigger-sampling-request" in names
        with anyio.fail_after(STEP):
            result = await session.call_tool("trigger-sampling-request", {"prompt": "what is 6x7?", "maxTokens": 9})
    text = text_of(result)
    assert "sampled answer 7f3a" in text and "e2e-model" in text
    assert len(seen) == 1
    assert seen[0].maxTokens == 9
    assert "what is 6x7?" in seen[0].messages[0].content.text


async def test_elicitation_request_from_server_is_answered_through_proxy(proxied):
    async def elicit(context, params) -> types.ElicitResult:
        assert "Please provide inputs" in params.message
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    async with proxied(SERVER, elicitation_callback=elicit) as (session, _):
        with anyio.fail_after(STEP):
            result = await session.call_tool("trigger-elicitation-request", {})
    text = text_of(result)
    assert "- Name: Ada Lovelace" in text
    assert "- Agreed to terms: true" in text


async def test_roots_request_from_server_is_answered_through_proxy(proxied):
    asked = anyio.Event()

    async def roots(context) -> types.ListRootsResult:
        asked.set()
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/e2e-root-9c1", name="e2e root")])

    async with proxied(SERVER, list_roots_callback=roots) as (session, _):
        # The server asks for roots on its own shortly after initialization.
        with anyio.fail_after(STEP):
            await asked.wait()
        with anyio.fail_after(STEP):
            text = text_of(await session.call_tool("get-roots-list", {}))
    assert "file:///tmp/e2e-root-9c1" in text


async def test_pipelined_requests_each_get_their_own_answer(proxied):
    n = 50
    rng = random.Random(1234)
    messages = [f"{i}-" + "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 3000))) for i in range(n)]
    answers: dict[int, str] = {}

    async with proxied(SERVER) as (session, _):

        async def one(i: int) -> None:
            answers[i] = text_of(await session.call_tool("echo", {"message": messages[i]}))

        with anyio.fail_after(STEP * 2):
            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(one, i)
    assert len(answers) == n
    for i in range(n):
        assert answers[i] == f"Echo: {messages[i]}", f"request {i} got someone else's answer"


async def test_one_mebibyte_echo_both_directions(proxied):
    message = "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=1 << 20))
    async with proxied(SERVER, *BIG_LIMIT) as (session, _):
        with anyio.fail_after(STEP * 2):
            got = text_of(await session.call_tool("echo", {"message": message}))
        assert got == f"Echo: {message}"
        # The session is still fine afterwards.
        with anyio.fail_after(STEP):
            assert text_of(await session.call_tool("echo", {"message": "small"})) == "Echo: small"
