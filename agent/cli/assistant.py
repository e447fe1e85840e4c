"""``facelens ask IMAGE "QUESTION"`` and ``facelens chat [IMAGE...]``: the assistant on the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import (
    add_allow_cloud_images_flag,
    add_backend_option,
    add_detector_option,
    add_json_flag,
)

HELP_ORDER = 10
COMMANDS = CommandTable()

#: chat --audio FILE: a recording this short is a spoken question; a longer one is only audio to ask about
RECORDED_QUESTION_MAX_S = 30.0


def _common(p: argparse.ArgumentParser) -> None:
    add_backend_option(
        p,
        help="who answers (default: FACELENS_BACKEND / config.yaml's backend, else openai when "
        "OPENAI_API_KEY/OPENAI_BASE_URL is set, local when FACELENS_LOCAL_MODEL is set, else the offline planner)",
    )
    p.add_argument("--model", default=None, help="LLM model name (openai) or .gguf / model folder / 'smollm2' (local)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (default OPENAI_BASE_URL)")
    p.add_argument(
        "--audio",
        default=None,
        metavar="FILE",
        help="an audio file: a recorded question (ask without a QUESTION; chat: a recording of up to "
        f"{RECORDED_QUESTION_MAX_S:.0f} s is asked first), and the audio for questions about what was said",
    )
    add_allow_cloud_images_flag(p, help="allow sending photo crops to a cloud vision model when a question needs one")
    p.add_argument("--stream", action="store_true", help="stream the LLM's answer as it is written")
    add_detector_option(p)


def _ask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="the photo (use --audio for a recording)")
    p.add_argument(
        "question",
        nargs="?",
        default=None,
        help="the question, in quotes (leave it out with --audio FILE to ask the question recorded in FILE)",
    )
    add_json_flag(p, help='print {"answer", "backend", "faces", "tool_calls", "llm_calls"}')
    _common(p)


def _chat_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", help="photos to talk about")
    p.add_argument(
        "--voice",
        nargs="?",
        const="vad",
        default=None,
        metavar="{vad,push}",
        help="speak instead of typing: vad (a pause ends the question, default) or push (Enter to start/stop); "
        "'chat --voice IMAGE' and 'chat IMAGE --voice' both work",
    )
    add_json_flag(p, help="with --voice: print the fused face/voice/words estimate as JSON on stderr")
    _common(p)


def _assistant(args: argparse.Namespace, images: list[str]):
    from facelens.agent.assistant.chat import Assistant
    from facelens.tools import faces

    return Assistant(
        images,
        backend=args.backend,
        audio=args.audio,
        detector=args.detector or faces.DEFAULT_DETECTOR,
        allow_cloud_images=args.allow_cloud_images,
        model=args.model,
        base_url=args.base_url,
        streaming=args.stream,
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
        from facelens.agent.assistant.answers import backend_label

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


def _recorded_question(path: str, backend: Any, as_json: bool = False):
    """The question spoken in an audio file: transcribed, its voice and words read and fused (as --voice does)."""
    from facelens.agent.assistant.voice_input import affect_printer, from_file

    utt = from_file(path, words_backend=_words_backend(backend))
    affect_printer(as_json=as_json)(utt)
    return utt


@COMMANDS.command("ask", _ask_arguments)
def cmd_ask(args: argparse.Namespace) -> int:
    """ask a question about the people in a photo

    Answer a question about a photo, e.g. facelens ask group.jpg "who looks happiest?"
    """
    from facelens.tools.errors import InputError

    assistant = _assistant(args, [args.image])
    question, speaker, opener = args.question, None, ""
    if question is None:
        if not args.audio:
            raise InputError(
                "No question was given.",
                hint='Ask it in quotes, e.g. facelens ask photo.jpg "who looks happiest?", '
                "or give a recorded question with --audio FILE.",
            )
        utt = _recorded_question(
            args.audio, getattr(assistant.backend, "settings", None) or assistant.backend.name, args.json
        )
        question, speaker = utt.text, utt.affect
        if assistant.backend.name == "offline":
            from facelens.agent.assistant.voice_input import tone_opener

            opener = tone_opener(utt.affect)
    printer = _TokenPrinter(sys.stdout.isatty()) if args.stream and not args.json else None
    answer = assistant.ask(question, on_token=printer, speaker=speaker)
    if opener:
        answer = answer.model_copy(update={"answer": f"{opener} {answer.answer}"})
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


def input_source(args: argparse.Namespace, backend: Any = "offline") -> Callable[[], str | None]:
    """Where chat utterances come from: the terminal, or with ``--voice`` the microphone. The spoken
    words go to an LLM for their emotion only when the chat's own backend is that LLM: ``backend`` is the
    chat backend's resolved settings (so ``--backend``, ``--model`` and ``--base-url`` reach the voice
    path too) or its name."""
    if getattr(args, "voice", None):
        from facelens.agent.assistant.voice_input import VoiceInput, affect_printer

        return VoiceInput(
            args.voice, on_affect=affect_printer(as_json=args.json), words_backend=_words_backend(backend)
        )
    return keyboard_input()


def _words_backend(backend: Any):
    """Who reads the spoken words' emotion: the chat's own LLM when it is the openai backend, else this machine."""
    from facelens.tools.settings import LLMSettings

    if isinstance(backend, LLMSettings):
        return backend if backend.backend == "openai" else "offline"
    return "openai" if str(backend).startswith("openai") else "offline"


class RecordedFirst:
    """A chat input that first asks the question recorded in a file, then reads from ``then`` (keyboard or microphone).

    ``last`` is the recorded question's Utterance for its turn (so the reply can adapt to how it sounded),
    then whatever ``then`` keeps."""

    def __init__(self, utterance: Any, then: Callable[[], str | None]) -> None:
        self.first: Any = utterance
        self.then = then
        self.last: Any = None

    def __call__(self) -> str | None:
        if self.first is not None:
            self.last, self.first = self.first, None
            return self.last.text
        said = self.then()
        self.last = getattr(self.then, "last", None)
        return said


def voice_and_images(args: argparse.Namespace) -> None:
    """``chat --voice family.jpg``: argparse took the photo as the voice mode; it is a photo, and the mode is vad."""
    from facelens.tools.errors import InputError

    voice = getattr(args, "voice", None)
    if voice is None or voice in ("vad", "push"):
        return
    from pathlib import Path

    if Path(voice).exists() or "." in Path(voice).name:
        args.images = [voice] + list(args.images)
        args.voice = "vad"
        return
    raise InputError(f"--voice takes vad or push, not {voice!r}.", hint="e.g. facelens chat photo.jpg --voice push")


@COMMANDS.command("chat", _chat_arguments)
def cmd_chat(args: argparse.Namespace) -> int:
    """a conversation about photos (follow-up questions work)

    Ask questions one after another; /image PATH adds a photo, /audio PATH sets the audio, quit ends.
    """
    from facelens.agent.assistant.chat import chat_loop

    voice_and_images(args)
    assistant = _assistant(args, list(args.images))
    print(
        f"facelens chat ({assistant.backend.name}). Images: {', '.join(n for n, _ in assistant.box.images) or 'none'}. "
        "Type a question, /image PATH, /audio PATH, or quit.",
        file=sys.stderr,
    )
    backend = getattr(assistant.backend, "settings", None) or assistant.backend.name
    source = input_source(args, backend)
    if args.audio and _is_short(args.audio):  # a recorded question: asked first, then the chat goes on
        source = RecordedFirst(_recorded_question(args.audio, backend, args.json), source)
    if (getattr(args, "voice", None) or isinstance(source, RecordedFirst)) and assistant.backend.name == "offline":
        # the planner's replies get a tone opener; an LLM gets the fused estimate in its prompt
        from facelens.agent.assistant.voice_input import adaptive_writer

        chat_loop(assistant, source, adaptive_writer(source, print))
        return 0
    chat_loop(assistant, source, print)
    return 0


def _is_short(path: str) -> bool:
    """Is the audio file short enough to be a spoken question (a long one is a recording to ask about)?"""
    from facelens.tools import media

    try:
        return media.probe(path).duration <= RECORDED_QUESTION_MAX_S
    except Exception:  # noqa: BLE001 (a file probe can't read is no question; the assistant reports it as audio)
        return False
