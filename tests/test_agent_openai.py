"""The OpenAI wire protocol against an OpenAI-compatible server run on loopback by the test.

The server returns canned chat completions (a tool call, then an answer built from the tool result
it was sent), non-streaming and as Server-Sent Events, and records every request body so the test
can check the tool schemas, the tool result fed back, and what left the machine.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from facelens.agent.assistant.backends.openai import OpenAIBackend
from facelens.agent.assistant.chat import Assistant
from facelens.agent.cli import main
from facelens.tools.errors import BackendError


class FakeOpenAI:
    """Canned replies: ``script`` is a list of ("tool", name, args) or ("text", content) steps; when
    the last message is a tool result and the step is ("echo",), the reply quotes that result."""

    def __init__(self, script: list[tuple]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        self.authorization: list[str | None] = []  # each request's Authorization header
        self.stream_flags: list[bool] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.authorization.append(self.headers.get("Authorization"))
                step = fake.script.pop(0) if fake.script else ("text", "no more script")
                message = fake.message(step, body)
                if body.get("stream"):
                    fake.stream_flags.append(True)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for chunk in fake.chunks(message):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                else:
                    fake.stream_flags.append(False)
                    data = json.dumps(
                        {
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "message": message,
                                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def message(step: tuple, body: dict) -> dict:
        if step[0] == "tool":
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": step[1], "arguments": json.dumps(step[2])},
                    }
                ],
            }
        if step[0] == "echo":
            tool_msgs = [m for m in body["messages"] if m["role"] == "tool"]
            return {"role": "assistant", "content": f"Tool said: {tool_msgs[-1]['content']}"}
        return {"role": "assistant", "content": step[1]}

    @staticmethod
    def chunks(message: dict) -> list[dict]:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        out = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        ]
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            out.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": call["id"],
                                        "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""},
                                    }
                                ]
                            },
                            "finish_reason": None,
                        }
                    ],
                }
            )
            args = call["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                out.append(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]},
                                "finish_reason": None,
                            }
                        ],
                    }
                )
            out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        else:
            words = message["content"].split(" ")
            for i, w in enumerate(words):
                out.append(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"content": w + (" " if i < len(words) - 1 else "")},
                                "finish_reason": None,
                            }
                        ],
                    }
                )
            out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server_factory(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("FACELENS_ALLOW_CLOUD_IMAGES", raising=False)
    made = []

    def make(script):
        s = FakeOpenAI(script)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("streaming", [False, True])
def test_tool_round_trip(server_factory, group_jpg, streaming):
    srv = server_factory([("tool", "compare_faces", {"face_a": 2, "face_b": 4}), ("echo",)])
    backend = OpenAIBackend("test-model", base_url=srv.url, streaming=streaming)
    tokens: list[str] = []
    a = Assistant([group_jpg[0]], backend=backend).ask(
        "are the people in red and yellow the same person?", on_token=tokens.append
    )
    assert a.backend == "openai:test-model" and a.llm_calls == 2
    assert [c.name for c in a.tool_calls] == ["analyze_scene", "compare_faces"]
    assert srv.stream_flags == [streaming, streaming]
    first, second = srv.requests
    # the tool schemas went out with typed parameters
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert {
        "analyze_scene",
        "find_people",
        "emotion_details",
        "compare_faces",
        "transcribe_audio",
        "describe_person",
    } <= set(tools)
    assert tools["compare_faces"]["parameters"]["properties"]["face_a"]["type"] == "integer"
    assert "face_a" in tools["compare_faces"]["parameters"]["required"]
    # the scene facts go with the first prompt, as JSON in an analyze_scene tool result;
    # no embeddings and no pixels ever leave
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert first["messages"][2]["tool_calls"][0]["function"]["name"] == "analyze_scene"
    facts = json.loads(first["messages"][-1]["content"])
    assert facts["faces"][1]["position"] == "second from left" and facts["faces"][1]["clothing"] == "red"
    assert "are the people in red and yellow" in first["messages"][1]["content"]
    assert "image_url" not in json.dumps(srv.requests)
    # the tool result was fed back, and the answer used it
    tool_msg = [m for m in second["messages"] if m["role"] == "tool"][-1]
    assert json.loads(tool_msg["content"])["same_person"] is True and tool_msg["tool_call_id"] == "call_1"
    assert '"same_person": true' in a.answer
    if streaming:
        assert "".join(tokens).startswith("Tool said:")


def test_direct_answer_takes_one_call(server_factory, group_jpg):
    srv = server_factory([("text", "Face 2 (second from left, red clothing) is the second person.")])
    a = Assistant([group_jpg[0]], backend=OpenAIBackend("m", base_url=srv.url)).ask("who is second from the left?")
    assert a.llm_calls == 1 and [f.id for f in a.faces] == [2]
    assert [c.name for c in a.tool_calls] == ["analyze_scene"]


def test_failing_tool_is_readable_by_the_model(server_factory, group_jpg):
    srv = server_factory([("tool", "emotion_details", {"face": 9}), ("echo",)])
    a = Assistant([group_jpg[0]], backend=OpenAIBackend("m", base_url=srv.url)).ask("how does face 9 feel?")
    assert '{"error": "There is no face 9' in a.answer and a.llm_calls == 2


def test_runaway_tool_loop_is_capped(server_factory, group_jpg):
    srv = server_factory([("tool", "find_people", {"description": "far left"})] * 10)
    a = Assistant([group_jpg[0]], backend=OpenAIBackend("m", base_url=srv.url, max_llm_calls=3)).ask("who?")
    assert len(srv.requests) == 3 and a.llm_calls == 3
    assert a.answer.startswith("The model did not reach an answer within 3 calls")


def test_follow_up_sends_history(server_factory, group_jpg):
    srv = server_factory(
        [("text", "Face 1 (far left, blue clothing)."), ("text", "Face 2 (second from left, red clothing).")]
    )
    chat = Assistant([group_jpg[0]], backend=OpenAIBackend("m", base_url=srv.url))
    chat.ask("who is on the far left?")
    a = chat.ask("and the person next to her?")
    roles = [m["role"] for m in srv.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool"] and [f.id for f in a.faces] == [2]


def test_server_down_is_a_clear_error(group_jpg):
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", timeout_s=5)
    with pytest.raises(BackendError, match="Cannot reach the LLM server"):
        Assistant([group_jpg[0]], backend=backend).ask("who is on the left?")


def test_cli_with_openai_compatible_server(server_factory, group_jpg, capsys, monkeypatch):
    srv = server_factory([("text", "Face 4 (far right, yellow clothing) is on the far right.")])
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    assert main(["ask", str(group_jpg[0]), "who is on the far right?", "--json", "--model", "tiny"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "openai:tiny" and data["llm_calls"] == 1 and data["faces"][0]["id"] == 4
    assert srv.requests[0]["model"] == "tiny"


@pytest.mark.parametrize("terminal", [False, True])
def test_cli_stream_prints_the_answer_once(server_factory, group_jpg, capsys, monkeypatch, terminal):
    text = "Face 4 (far right, yellow clothing) is on the far right."
    srv = server_factory([("text", text)])
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    assert main(["ask", str(group_jpg[0]), "who is on the far right?", "--stream", "--model", "tiny"]) == 0
    out, err = capsys.readouterr()
    assert srv.stream_flags == [True]
    assert out.count(text) == 1 and "[answered by" in out
    if terminal:  # tokens on stdout, nothing repeated: stdout and stderr both show on a terminal
        assert out.startswith(text) and text not in err
    else:  # a live preview on stderr, the whole answer once on stdout for the pipe
        assert text in err


def test_spoken_question_gives_the_llm_the_fused_estimate(server_factory, group_jpg):
    """A spoken chat turn puts how the user sounded into the LLM's prompt, for that turn only."""
    from facelens.agent.assistant.chat import chat_loop
    from facelens.agent.sessions.affect import fuse, words_emotion

    srv = server_factory([("text", "Face 1 is on the far left."), ("text", "Four people.")])
    assistant = Assistant([group_jpg[0]], backend=OpenAIBackend("test-model", base_url=srv.url))
    spoken = "This app is useless and I am furious, who is on the far left?"

    class Utterance:  # what VoiceInput keeps in ``last``: the words and their fused affect
        text = spoken
        affect = fuse(words=words_emotion(spoken))

    class Reader:
        last = None
        queue = [spoken, "how many people are there?"]

        def __call__(self):
            if not self.queue:
                return None
            said = self.queue.pop(0)
            self.last = Utterance() if said == spoken else None
            return said

    replies: list[str] = []
    assert chat_loop(assistant, Reader(), replies.append) == 2
    first = [m for m in srv.requests[0]["messages"] if m["role"] == "user"][-1]["content"]
    second = [m for m in srv.requests[1]["messages"] if m["role"] == "user"][-1]["content"]
    assert Utterance.affect.label == "angry"
    assert "asked this question aloud" in first and "come across as angry" in first and "de-escalate" in first
    assert "aloud" not in second  # a typed follow-up carries no estimate
    assert assistant.convo.speaker is None
