"""VLM describe tool: parsing, retry, backends (tiny local model, loopback OpenAI server), fallback, fusion, video, eval."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from facelens.tools import vlm_backends
from facelens.tools.errors import BackendError, ConfigError, InputError, ModelError, NotFoundError
from facelens.tools.schema import EMOTIONS, EmotionEstimate
from facelens.tools.vlm import describe_face, describe_turns, parse_answer
from facelens.tools.vlm_backends import candidates, turn
from facelens.tools.vlm_backends.openai_vision import OpenAIVision, image_data_url
from tests import tiny_vlm
from tests.vlm_server import Server

GOOD = json.dumps(
    {
        "expression": "broad smile with raised cheeks",
        "emotion": "happy",
        "confidence": 0.9,
        "compound_emotions": ["happily surprised"],
        "attributes": {
            "glasses": False,
            "beard": False,
            "headwear": None,
            "hair": "short brown",
            "clothing": "flight suit",
            "clothing_colour": "orange",
            "holding": ["helmet"],
            "mood_ring": "ignored",
        },
    }
)
ENV = [
    "FACELENS_VLM",
    "FACELENS_VLM_MODEL",
    "FACELENS_VLM_BASE_URL",
    "OPENAI_BASE_URL",
    "FACELENS_VLM_API_KEY",
    "OPENAI_API_KEY",
    "FACELENS_ALLOW_CLOUD_IMAGES",
    "FACELENS_LOCAL_VLM",
    "FACELENS_LOCAL_VLM_DEVICE",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return tiny_vlm.build(tmp_path_factory.mktemp("tiny-vlm"))


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def group(group_jpg):
    return group_jpg[0]


def _decode(url: str) -> Image.Image:
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


# --- parsing ---------------------------------------------------------------------------------


def test_parse_answer_accepts_fences_and_extra_keys():
    a = parse_answer("Sure!\n```json\n" + GOOD + "\n```\nanything")
    assert a.emotion == "happy" and a.confidence == 0.9 and a.attributes.holding == ["helmet"]
    assert parse_answer('{"expression": "calm", "emotion": " Neutral ", "confidence": 0.4}').emotion == "neutral"


@pytest.mark.parametrize(
    "text, says",
    [
        ("I think she is happy.", "no JSON object"),
        ('{"expression": "x", "emotion": "happy", "confidence": 0.9', "invalid"),
        ('{"expression": "x", "emotion": "joyful", "confidence": 0.9}', "must be one of"),
        ('{"expression": "x", "emotion": "happy", "confidence": 7}', "confidence"),
        ('{"emotion": "happy", "confidence": 0.5}', "expression"),
        ("[1, 2]", "no JSON object"),
    ],
)
def test_parse_answer_names_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says):
        parse_answer(text)


def test_prompts_render_strictly():
    turns = describe_turns(np.zeros((20, 20, 3), np.uint8), shots=[(np.zeros((8, 8, 3), np.uint8), GOOD)])
    assert [t.role for t in turns] == ["system", "user", "assistant", "user"]
    assert all(e in turns[-1].text for e in EMOTIONS) and "labelled example" in turns[1].text
    with pytest.raises(Exception, match="undefined"):
        vlm_backends.render("corrective", emotions=EMOTIONS)  # 'error' missing
    with pytest.raises(NotFoundError):
        vlm_backends.render("no-such-prompt")


# --- the tiny local VLM through from_pretrained --------------------------------------------------


def test_local_vlm_generates_through_from_pretrained(tiny_dir):
    from facelens.tools.vlm_backends.hf_local import LocalVLM

    b = LocalVLM(str(tiny_dir), device="auto")
    img = np.random.default_rng(0).integers(0, 255, (60, 40, 3), dtype=np.uint8)
    gen = b.generate([turn("system", "be brief"), turn("user", "describe", img)], max_tokens=6)
    assert gen.backend == f"local:{tiny_dir}" and gen.completion_tokens == 6 and gen.prompt_tokens > 10
    assert gen.stats["tokens_per_s"] > 0 and gen.stats["params_m"] < 1 and b.local


def test_chat_template_carries_every_few_shot_image(tiny_dir):
    from facelens.tools.vlm_backends.hf_local import LocalVLM, load

    b = LocalVLM(str(tiny_dir))
    processor, model, _ = load(str(tiny_dir), "auto")
    shots = [(np.full((30, 30, 3), v, np.uint8), GOOD) for v in (10, 200)]
    turns = describe_turns(np.full((50, 40, 3), 90, np.uint8), shots=shots)
    inputs = b._inputs(processor, model, turns)
    assert inputs["pixel_values"].shape[0] == 3  # two exemplars + the query, in order
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert text.count("<|assistant|>") == 3 and GOOD.split(",")[0] in text  # exemplar answers are turns


def test_describe_with_tiny_vlm_reports_malformed_output(tiny_dir, group):
    from facelens.tools.vlm_backends.hf_local import LocalVLM

    d = describe_face(group, 2, backend=LocalVLM(str(tiny_dir)), shots=2, max_tokens=12)
    assert d.status == "malformed" and d.retried and d.raw_output  # random weights: garbage, twice
    assert d.vlm is None and d.expression is None and d.backend.startswith("local:")
    assert d.exemplars == ["builtin-astronaut-happy", "builtin-hopper-neutral"] or len(d.exemplars) == 2
    assert not d.images_left_machine and d.attributes.clothing_colour == "red"
    assert "malformed" in " ".join(d.notes)


def test_smolvlm_family_few_shot_through_from_pretrained(tmp_path_factory):
    from facelens.tools.vlm_backends.hf_local import LocalVLM, load

    folder = tiny_vlm.build_idefics3(tmp_path_factory.mktemp("tiny-idefics3"))
    b = LocalVLM(str(folder))
    shots = [(np.full((30, 30, 3), 50, np.uint8), GOOD)]
    turns = describe_turns(np.full((50, 40, 3), 90, np.uint8), shots=shots)
    processor, model, _ = load(str(folder), "auto")
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    text = processor.tokenizer.decode(b._inputs(processor, model, turns)["input_ids"][0])
    assert text.count("<global-img>") == 2 and text.rstrip().endswith("Assistant:")
    gen = b.generate(turns, max_tokens=4)
    assert gen.completion_tokens <= 4 and gen.prompt_tokens > 20


def test_processor_load_failure_is_a_model_error(tiny_dir, tmp_path):
    import shutil

    from facelens.tools.vlm_backends.hf_local import load

    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    for f in broken.glob("*token*"):
        f.unlink()
    with pytest.raises(ModelError, match="Cannot load"):
        load(str(broken), "cpu")


def test_local_weights_errors(tmp_path):
    from facelens.tools.vlm_backends.hf_local import LocalVLM, resolve_weights, weight_bytes

    with pytest.raises(ModelError, match="not found"):
        resolve_weights(str(tmp_path / "nothing-here"))
    with pytest.raises(ModelError, match="config.json"):
        resolve_weights(str(tmp_path))
    with pytest.raises(ModelError):
        LocalVLM(str(tmp_path / "nothing-here")).generate([turn("user", "hi")])
    (tmp_path / "config.json").write_text('{"dtype": "float32"}')
    (tmp_path / "model.safetensors").write_bytes(b"0" * 4000)
    assert weight_bytes(tmp_path, "bfloat16") == 2000


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU")
def test_tiny_vlm_on_cuda(tiny_dir, monkeypatch):
    import torch

    from facelens.tools.vlm_backends import hf_local

    b = hf_local.LocalVLM(str(tiny_dir), device="cuda")
    gen = b.generate([turn("user", "describe", np.zeros((40, 40, 3), np.uint8))], max_tokens=8)
    _, model, stats = hf_local.load(str(tiny_dir), "cuda")
    assert model.device.type == "cuda" and model.dtype in (torch.bfloat16, torch.float16)
    assert stats["gpu_free_gb"] > 0 and gen.stats["gpu_peak_gb"] > 0
    monkeypatch.setenv("FACELENS_LOCAL_VLM", str(tiny_dir))
    assert [c.name for c in candidates()[0]] == [f"local:{tiny_dir}"]  # auto mode: the GPU VLM is next in line
    monkeypatch.setattr(hf_local, "GPU_HEADROOM_BYTES", 1e15)
    with pytest.raises(ModelError, match="GB of GPU memory"):
        hf_local.check_gpu_memory(tiny_dir, "cuda:0", "bfloat16")


# --- OpenAI(-compatible) vision against a loopback server --------------------------------------


def test_openai_request_has_content_parts_and_size_limited_data_urls(server, group, monkeypatch):
    from facelens.tools.vlm_backends import openai_vision

    monkeypatch.setattr(openai_vision, "MAX_SIDE", 256)
    server.reply(GOOD)
    b = OpenAIVision("test-vlm", base_url=server.url)
    d = describe_face(group, 1, backend=b, question="is she smiling?")
    assert d.status == "ok" and d.vlm.emotion == "happy" and d.expression.startswith("broad smile")
    assert d.attributes.holding == ["helmet"] and d.backend == f"openai:test-vlm@{server.url}"
    assert not d.images_left_machine  # a loopback server is on this machine
    req = server.requests[0]
    assert req["model"] == "test-vlm" and req["max_tokens"] == 400 and req["messages"][0]["role"] == "system"
    parts = req["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"] and "is she smiling?" in parts[0]["text"]
    img = _decode(parts[1]["image_url"]["url"])
    assert img.format == "JPEG" and max(img.size) <= 256


def test_corrective_retry_then_valid(server, group):
    server.reply("not json at all", GOOD)
    d = describe_face(group, 1, backend=OpenAIVision("m", base_url=server.url))
    assert d.status == "ok" and d.retried and len(server.requests) == 2
    second = server.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "not json at all"}
    assert "could not be used" in second[-1]["content"] and "no JSON object" in second[-1]["content"]


def test_malformed_twice_is_reported(server, group):
    server.reply('{"emotion": "elated"}')
    d = describe_face(group, 1, backend=OpenAIVision("m", base_url=server.url))
    assert (
        d.status == "malformed" and d.retried and d.raw_output == '{"emotion": "elated"}' and len(server.requests) == 2
    )


def test_few_shot_images_precede_the_query(server, group):
    server.reply(GOOD)
    d = describe_face(group, 2, backend=OpenAIVision("m", base_url=server.url), shots=2)
    msgs = server.requests[0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert json.loads(msgs[2]["content"])["emotion"] in EMOTIONS and len(d.exemplars) == 2
    assert all(any(p["type"] == "image_url" for p in msgs[i]["content"]) for i in (1, 3, 5))


def test_data_url_limits():
    big = np.random.default_rng(1).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
    url = image_data_url(big, max_side=768, max_bytes=60_000)
    img = _decode(url)
    assert max(img.size) <= 768 and len(base64.b64decode(url.split(",")[1])) <= 60_000
    with pytest.raises(InputError, match="size limit"):
        image_data_url(big, max_bytes=200)
    with pytest.raises(InputError, match="empty"):
        image_data_url(np.zeros((0, 5, 3), np.uint8))
    too_many = [turn("user", "x", *[np.zeros((8, 8, 3), np.uint8)] * 17)]
    with pytest.raises(InputError, match="limit is 16"):
        OpenAIVision("m", base_url="http://127.0.0.1:9/v1").messages(too_many)


def test_server_errors_are_backend_errors(server, group):
    server.reply(500)
    with pytest.raises(BackendError, match="HTTP 500"):
        describe_face(group, 1, backend=OpenAIVision("m", base_url=server.url))
    with pytest.raises(BackendError, match="Cannot reach"):
        OpenAIVision("m", base_url="http://127.0.0.1:9/v1", timeout=2).generate([turn("user", "hi")])
    with pytest.raises(ConfigError, match="API key"):
        OpenAIVision("m")


# --- backend choice and fallback -----------------------------------------------------------------


def test_fallback_order_and_privacy(server, monkeypatch):
    assert candidates() == ([], False, [])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("FACELENS_LOCAL_VLM", "/models/SmolVLM")
    monkeypatch.setenv("FACELENS_LOCAL_VLM_DEVICE", "cpu")
    monkeypatch.setenv("FACELENS_ALLOW_CLOUD_IMAGES", "1")
    backends, explicit, _ = candidates()
    assert [b.name.split(":")[0] for b in backends] == ["openai", "local"] and not explicit
    assert not backends[0].local
    monkeypatch.delenv("FACELENS_ALLOW_CLOUD_IMAGES")  # images stay local unless the user allows it
    backends, _, notes = candidates()
    assert [b.name.split(":")[0] for b in backends] == ["local"] and "not allowed" in notes[0]
    with pytest.raises(ConfigError, match="not allowed"):
        candidates("openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # loopback: allowed even without cloud
    assert candidates("openai")[0][0].local
    with pytest.raises(NotFoundError, match="Known: auto"):
        candidates("gemini")
    assert candidates("none")[0] == []


def test_auto_falls_through_a_failing_cloud_model(server, group, monkeypatch):
    monkeypatch.setenv("FACELENS_VLM_BASE_URL", server.url)
    server.reply(503)
    d = describe_face(group, 1)
    assert d.backend in ("classifier", "none") and "failed" in d.notes[0] and not d.images_left_machine  # loopback
    with pytest.raises(BackendError):
        describe_face(group, 1, backend="openai")  # chosen explicitly: no silent fallback


def test_bad_face_number_and_shots(group):
    with pytest.raises(NotFoundError, match="no face 9"):
        describe_face(group, 9, backend="none")
    with pytest.raises(InputError, match="shots"):
        describe_face(group, 1, shots=99)


# --- long-tail fusion --------------------------------------------------------------------------


def _est(scores):
    return EmotionEstimate(label=max(scores, key=scores.get), scores=scores, model="test")


def test_fusion_lifts_a_rare_emotion_the_vlm_folded_away():
    from facelens.tools.vlm_calibration import fuse

    clf = _est(
        {"angry": 0.05, "disgust": 0.35, "fear": 0.05, "happy": 0.4, "neutral": 0.05, "sad": 0.05, "surprise": 0.05}
    )
    f = fuse("happy", 0.6, clf)
    assert f.label == "disgust" and f.vlm_label == "happy" and f.classifier_label == "happy"
    assert (
        "VLM: happy (0.60)" in f.evidence
        and "classifier: happy" in f.evidence
        and abs(sum(f.scores.values()) - 1) < 1e-3
    )
    sure = fuse("happy", 0.95, _est({**{e: 0.02 for e in EMOTIONS}, "happy": 0.88}))
    assert sure.label == "happy" and sure.likelihood == "noise-model"
    assert fuse(None, None, None) is None and fuse("bogus", 0.9, None) is None


def test_fusion_uses_a_measured_confusion_matrix():
    from facelens.tools.vlm_calibration import fuse, save_calibration

    confusion = {e: {e: 10} for e in EMOTIONS}
    confusion["fear"] = {"surprise": 9, "fear": 1}  # this VLM calls fear "surprise"
    save_calibration(confusion, "test")
    clf = _est(
        {"angry": 0.1, "disgust": 0.05, "fear": 0.4, "happy": 0.05, "neutral": 0.1, "sad": 0.05, "surprise": 0.25}
    )
    f = fuse("surprise", 0.9, clf)
    assert f.likelihood == "measured" and f.label == "fear"
    assert fuse("surprise", 0.9, clf, use_saved_calibration=False).label == "surprise"  # the noise model trusts the VLM


# --- video context enrichment and the VLM eval -----------------------------------------------------


def test_eval_zero_vs_k_shot(server, tmp_path, astronaut, hopper):
    from facelens.eval import scenes
    from facelens.eval import vlm as vlm_eval

    for label, name in (("happy", "astronaut"), ("neutral", "hopper")):
        (tmp_path / label).mkdir()
        Image.fromarray(scenes.head(name)).save(tmp_path / label / f"{name}.jpg")
    (tmp_path / "contempt").mkdir()  # not a known label: skipped with a warning
    server.reply(GOOD)  # always "happy"
    r = vlm_eval.evaluate_vlm(tmp_path, shots=1, backend=OpenAIVision("m", base_url=server.url))
    assert r.n == 2 and [s.shots for s in r.results] == [0, 1] and all(s.accuracy == 0.5 for s in r.results)
    assert r.results[0].confusion["neutral"] == {"happy": 1}
    k_shot_request = server.requests[-1]["messages"]
    assert [m["role"] for m in k_shot_request] == ["system", "user", "assistant", "user"]
    assert "0-shot: accuracy 0.500" in vlm_eval.summary(r)
    with pytest.raises(InputError, match="No labelled images"):
        vlm_eval.evaluate_vlm(tmp_path / "contempt", backend=OpenAIVision("m", base_url=server.url))
    with pytest.raises(ConfigError, match="No VLM"):
        vlm_eval.evaluate_vlm(tmp_path)


def test_backend_kinds_come_from_the_registry_and_an_unknown_one_names_them():
    assert (
        vlm_backends.BACKEND_CHOICES == ("auto", *vlm_backends.BACKENDS, "none") == ("auto", "openai", "local", "none")
    )
    with pytest.raises(NotFoundError, match="auto, openai, local, none"):
        vlm_backends.make_backend("nope")


def test_backends_share_their_types_through_the_base_module():
    from facelens.tools.vlm_backends import base, hf_local, openai_vision

    assert vlm_backends.Turn is base.Turn is openai_vision.Turn is hf_local.Turn
    assert vlm_backends.Generation is base.Generation
    with pytest.raises(TypeError, match="text or an H x W x 3"):
        turn("user", np.zeros((4, 4), np.uint8))
