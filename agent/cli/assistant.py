"""``facelens ask IMAGE "QUESTION"`` and ``facelens chat [IMAGE...]``: the assistant on the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from facelens.agent.cli import print_json


def _common(p: argparse.ArgumentParser) -> None:
    from facelens.agent.cli.photo import add_detector_option

    p.add_argument("--backend", choices=("offline", "openai", "local"), default=None,
                   help="who answers (default: openai when OPENAI_API_KEY/OPENAI_BASE_URL is set, "
                        "local when FACELENS_LOCAL_MODEL is set, else the offline planner)")
    p.add_argument("--model", default=None, help="LLM model name (openai) or .gguf / model folder / 'smollm2' (local)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (default OPENAI_BASE_URL)")
    p.add_argument("--audio", default=None, metavar="FILE", help="an audio file for questions about what was said")
    p.add_argument("--allow-cloud-images", action="store_true", default=None,
                   help="allow sending photo crops to a cloud vision model when a question needs one")
    p.add_argument("--stream", action="store_true", help="stream the LLM's answer as it is written")
    add_detector_option(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="ask a question about the people in a photo",
                       description='Answer a question about a photo, e.g. facelens ask group.jpg "who looks happiest?"')
    p.add_argument("image", help="the photo (use --audio for a recording)")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help='print {"answer", "backend", "faces", "tool_calls", "llm_calls"}')
    _common(p)
    p.set_defaults(handler=cmd_ask)

    c = sub.add_parser("chat", help="a conversation about photos (follow-up questions work)",
                       description="Ask questions one after another; /image PATH adds a photo, /audio PATH sets the audio, quit ends.")
    c.add_argument("images", nargs="*", help="photos to talk about")
    c.add_argument("--voice", nargs="?", const="vad", choices=("vad", "push"), default=None,
                   help="speak instead of typing: vad (a pause ends the question, default) or push (Enter to start/stop)")
    c.add_argument("--json", action="store_true", help="with --voice: print the fused face/voice/words estimate as JSON on stderr")
    _common(c)
    c.set_defaults(handler=cmd_chat)


def _assistant(args: argparse.Namespace, images: list[str]):
    from facelens.agent.assistant import Assistant
    from facelens.tools import faces

    return Assistant(
        images, backend=args.backend, audio=args.audio, detector=args.detector or faces.DEFAULT_DETECTOR,
        allow_cloud_images=args.allow_cloud_images, model=args.model, base_url=args.base_url, streaming=args.stream,
    )


class _TokenPrinter:
    """Shows the LLM's tokens as they arrive, without printing the answer twice.

    On a terminal the tokens go to stdout and, when they add up to the final answer, only the
    ``[answered by ...]`` line follows. When stdout is a pipe or file, the tokens are a live preview
    on stderr and stdout gets the whole answer once, as without ``--stream``.
    """

    def __init__(self, to_terminal: bool) -> None:
        self.to_terminal = to_terminal
        self.stream = sys.stdout if to_terminal else sys.stderr
        self.parts: list[str] = []

    def __call__(self, token: str) -> None:
        self.parts.append(token)
        self.stream.write(token)
        self.stream.flush()

    def finish(self, answer) -> None:
        from facelens.agent.answers import backend_label

        streamed = "".join(self.parts)
        if self.parts:
            self.stream.write("\n")
            self.stream.flush()
        if self.to_terminal and streamed.strip() == answer.answer.strip():
            print(f"[answered by {backend_label(answer.backend)}]")
        elif self.to_terminal and self.parts:
            # the final answer differs from what was streamed (tool rounds, a declined part): show it
            print(f"Answer: {answer.text()}")
        else:
            print(answer.text())


def cmd_ask(args: argparse.Namespace) -> int:
    assistant = _assistant(args, [args.image])
    printer = _TokenPrinter(sys.stdout.isatty()) if args.stream and not args.json else None
    answer = assistant.ask(args.question, on_token=printer)
    if args.json:
        print_json(answer.model_dump(mode="json"))
    elif printer is not None:
        printer.finish(answer)
    else:
        print(answer.text())
    return 0


def keyboard_input(prompt: str = "you> ") -> Callable[[], str | None]:
    """The default chat input: lines typed on the terminal (None at end of input)."""

    def read() -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return read


def input_source(args: argparse.Namespace, backend_name: str = "offline") -> Callable[[], str | None]:
    """Where chat utterances come from: the terminal, or with ``--voice`` the microphone. The spoken
    words go to an LLM for their emotion only when the chat's own backend is that LLM."""
    if getattr(args, "voice", None):
        from facelens.agent.voice_input import VoiceInput, affect_printer

        words = "openai" if backend_name.startswith("openai") else "offline"
        return VoiceInput(args.voice, on_affect=affect_printer(as_json=args.json), words_backend=words)
    return keyboard_input()


def cmd_chat(args: argparse.Namespace) -> int:
    from facelens.agent.assistant import chat_loop

    assistant = _assistant(args, list(args.images))
    print(f"facelens chat ({assistant.backend.name}). Images: {', '.join(n for n, _ in assistant.box.images) or 'none'}. "
          "Type a question, /image PATH, /audio PATH, or quit.", file=sys.stderr)
    source = input_source(args, assistant.backend.name)
    if getattr(args, "voice", None) and assistant.backend.name == "offline":
        # the planner's replies get a tone opener; an LLM gets the fused estimate in its prompt
        from facelens.agent.voice_input import adaptive_writer

        chat_loop(assistant, source, adaptive_writer(source, print))
        return 0
    chat_loop(assistant, source, print)
    return 0
