"""wild-photos: questions about real photos, judged strictly against truths a person wrote down.

The questions live in ``prompts/eval/wild_photos_{tune,heldout}.yaml``: 41 real photos from
``../shared/data/wider`` and ``../shared/data/faces``, each looked at by a person who wrote the true answers
(counts, counts with conditions, smiles, children, elderly people, genders, clothing colours,
positions, yes/no) before facelens was run on it. A third of the photos are the ``heldout`` split:
nobody tunes on them, and their individual failures are never reported (only totals per kind). The
held-out file is pinned by SHA-256 (:data:`HELDOUT_SHA256`), so an edit is noticed.

Each question is asked through the offline assistant (``facelens ask``'s path: :class:`Assistant`
with the offline backend), a fresh conversation per question, the photo analysed once per run
(no disk cache, no identity lookup, so the figures never come from a stale cache or a user's
gallery). The judge (:func:`judge`) is strict:

- a count must state the right number first (the first number in the answer; "no one"/"none" = 0);
- a yes/no must start with "Yes" or "No" and be true (and, about one person, cite only that face);
- a colour must be the first colour named, for the right person (the answer cites that face alone);
- a gender must be the first gender word, for the right person;
- a who/position answer must cite exactly the true faces (box IoU >= 0.3 with the truth's boxes);
- an answer that hedges or asks back ("did you mean ...?", "I'm not sure", "I can't tell") is wrong.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from facelens import prompts
from facelens.eval.registry import DEFAULT_DATA
from facelens.tools.errors import ConfigError, InputError, NotFoundError

log = logging.getLogger(__name__)

SPLITS = ("tune", "heldout")
KINDS = ("count", "count_condition", "smile", "children", "elderly", "gender", "colour", "position", "yes_no")
#: the held-out file's SHA-256; a deliberate correction of a wrong truth updates it, with a note why
HELDOUT_SHA256 = "2b44993caf006b2513b21e4ed9cba1185d1b297b3484c1710ad3d73502246cd3"
IOU_MATCH = 0.3
#: colour names a truth may use, each with the words that mean it (an answer naming a synonym is right)
COLOURS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet", "maroon", "burgundy"),
    "orange": ("orange",),
    "yellow": ("yellow", "lemon", "mustard"),
    "green": ("green", "olive", "lime"),
    "blue": ("blue", "navy", "denim"),
    "purple": ("purple", "violet", "lilac", "lavender", "plum"),
    "pink": ("pink", "fuchsia"),
    "brown": ("brown", "beige", "tan", "khaki"),
    "black": ("black",),
    "white": ("white", "cream", "ivory"),
    "grey": ("grey", "gray", "silver", "charcoal"),
}
GENDERS: dict[str, tuple[str, ...]] = {
    "female": ("woman", "women", "female", "girl", "lady", "feminine"),
    "male": ("man", "men", "male", "boy", "guy", "gentleman", "masculine"),
}
NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
        "eighteen nineteen twenty".split()
    )
}
_ZERO = r"no one|no-one|nobody|none|nothing"
_NUMBER_RE = re.compile(rf"\b(?:({_ZERO})|(\d+)|({'|'.join(NUMBER_WORDS)}))\b", re.IGNORECASE)
#: asking back or hedging; "I can't tell" counts where it opens the answer or is about which person (an answer
#: that cites the right face and adds "I can't name them" is not a hedge)
_HEDGE_RE = re.compile(
    r"^\W*(?:I )?(?:can'?t|cannot|can not) tell\b|\b(?:did you mean|do you mean|which (?:one|person|face|of them) (?:do|did) you"
    r"|(?:can'?t|cannot) tell which|not sure|unsure|hard to (?:say|tell)|unclear|could be either)\b",
    re.IGNORECASE,
)
_WORD_TO_COLOUR = {w: name for name, words in COLOURS.items() for w in words}
_COLOUR_RE = re.compile(r"\b(" + "|".join(sorted(_WORD_TO_COLOUR, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_WORD_TO_GENDER = {w: g for g, words in GENDERS.items() for w in words}
_GENDER_RE = re.compile(r"\b(" + "|".join(_WORD_TO_GENDER) + r")\b", re.IGNORECASE)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Question:
    """One question about a photo and its true answer (exactly one answer form is set)."""

    q: str  # the question as asked
    kind: str  # one of KINDS (what the question is about)
    count: int | None = None  # the true number
    yes_no: str | None = None  # "yes" or "no"
    colour: str | None = None  # a key of COLOURS
    gender: str | None = None  # "female" or "male"
    face: int | None = None  # the face (number in the photo's faces) a colour/gender/yes-no question is about
    faces: tuple[int, ...] | None = None  # the faces a who/position answer must cite (() = nobody)

    @property
    def form(self) -> str:
        """The answer form: count, yes_no, colour, gender or faces."""
        for f in ("count", "yes_no", "colour", "gender", "faces"):
            if getattr(self, f) is not None:
                return f
        raise ConfigError(f"The question {self.q!r} has no true answer.")


@dataclass(frozen=True)
class Photo:
    """A photo (path relative to the data root), its face boxes (number -> x, y, w, h) and questions."""

    path: str
    faces: dict[int, Box]
    questions: tuple[Question, ...]
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """The judgement of one answer."""

    ok: bool
    reason: str  # why it is wrong ("" when right)


@dataclass
class SplitResult:
    """What one split measured."""

    split: str
    questions: int = 0
    correct: int = 0
    photos: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [correct, total]
    failures: list[dict] = field(default_factory=list)  # tune split only: question, answer, reason
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else 0.0

    def kind_accuracy(self, kind: str) -> float | None:
        c, t = self.by_kind.get(kind, (0, 0))
        return c / t if t else None

    def to_dict(self) -> dict:
        out: dict = {
            "split": self.split,
            "photos": self.photos,
            "questions": self.questions,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "seconds": round(self.seconds, 1),
            "by_kind": {
                k: {"correct": c, "total": t, "accuracy": round(c / t, 4)} for k, (c, t) in self.by_kind.items()
            },
        }
        if self.split != "heldout":
            out["failures"] = self.failures
        return out


# --- loading ----------------------------------------------------------------------------------------


def _question(raw: dict, where: str) -> Question:
    if not isinstance(raw, dict) or not isinstance(raw.get("q"), str) or raw.get("kind") not in KINDS:
        raise ConfigError(f"{where}: each question needs q (text) and kind (one of {', '.join(KINDS)}); got {raw!r}.")
    forms = [k for k in ("count", "yes_no", "colour", "gender", "faces") if k in raw]
    if len(forms) != 1:
        raise ConfigError(
            f"{where}: the question {raw['q']!r} needs exactly one answer form (count, yes_no, colour, gender or faces)."
        )
    yn = raw.get("yes_no")
    if isinstance(yn, bool):  # YAML 1.1 reads an unquoted yes/no as a boolean
        yn = "yes" if yn else "no"
    q = Question(
        q=raw["q"],
        kind=raw["kind"],
        count=raw.get("count"),
        yes_no=yn,
        colour=raw.get("colour"),
        gender=raw.get("gender"),
        face=raw.get("face"),
        faces=tuple(raw["faces"]) if "faces" in raw else None,
    )
    bad = (
        (q.count is not None and (not isinstance(q.count, int) or q.count < 0))
        or (q.yes_no is not None and q.yes_no not in ("yes", "no"))
        or (q.colour is not None and (q.colour not in COLOURS or q.face is None))
        or (q.gender is not None and (q.gender not in GENDERS or q.face is None))
    )
    if bad:
        raise ConfigError(
            f"{where}: the question {q.q!r} has a malformed answer {raw!r} (colours: {', '.join(COLOURS)}; "
            "a colour or gender answer names its face)."
        )
    return q


def _box(raw: object, where: str) -> Box:
    if not (
        isinstance(raw, list)
        and len(raw) == 4
        and all(isinstance(v, (int, float)) for v in raw)
        and raw[2] > 0
        and raw[3] > 0
    ):
        raise ConfigError(f"{where}: a face box must be [x, y, w, h] with w, h > 0; got {raw!r}.")
    return tuple(float(v) for v in raw)  # type: ignore[return-value]


@lru_cache(maxsize=4)
def load_split(split: str) -> tuple[Photo, ...]:
    """The photos and questions of one split ("tune" or "heldout").

    Raises:
        InputError: an unknown split.
        ConfigError: the question file is malformed (the message says where).
    """
    if split not in SPLITS:
        raise InputError(f"Unknown wild-photos split '{split}'. Choose from: {', '.join(SPLITS)}, both.")
    data = prompts.load(f"eval/wild_photos_{split}")
    photos = []
    for i, raw in enumerate(data.get("photos") or []):
        where = f"wild_photos_{split}.yaml photo {i + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("photo"), str) or not isinstance(raw.get("faces"), dict):
            raise ConfigError(f"{where}: needs photo (a path under the data root), faces and questions.")
        faces = {int(k): _box(v, where) for k, v in raw["faces"].items()}
        qs = tuple(_question(q, where) for q in raw.get("questions") or [])
        for q in qs:
            for k in ((q.face,) if q.face is not None else ()) + (q.faces or ()):
                if k not in faces:
                    raise ConfigError(f"{where}: the question {q.q!r} names face {k}, which has no box.")
        photos.append(Photo(raw["photo"], faces, qs, raw.get("note", "")))
    if not photos:
        raise ConfigError(f"wild_photos_{split}.yaml holds no photos.")
    return tuple(photos)


def heldout_sha256() -> str:
    """The SHA-256 of the held-out question file as installed."""
    return hashlib.sha256(prompts.read_text("eval/wild_photos_heldout.yaml").encode("utf-8")).hexdigest()


def heldout_pinned() -> bool:
    """True when the held-out file is the pinned one (not edited since it was frozen)."""
    return heldout_sha256() == HELDOUT_SHA256


# --- judging ----------------------------------------------------------------------------------------


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def first_number(text: str) -> int | None:
    """The first number an answer states ("no one", "none", "nobody" = 0); a bare leading "No" with no number = 0."""
    m = _NUMBER_RE.search(text)
    if m is None:
        return 0 if re.match(r"\W*no\b", text, re.IGNORECASE) else None
    if m.group(1):
        return 0
    if m.group(2):
        return int(m.group(2))
    return NUMBER_WORDS[m.group(3).lower()]


def first_colour(text: str) -> str | None:
    m = _COLOUR_RE.search(text)
    return _WORD_TO_COLOUR[m.group(1).lower()] if m else None


def first_gender(text: str) -> str | None:
    m = _GENDER_RE.search(text)
    return _WORD_TO_GENDER[m.group(1).lower()] if m else None


def hedges(text: str) -> bool:
    """The answer hedges or asks back instead of answering."""
    return bool(_HEDGE_RE.search(text)) or text.rstrip().endswith("?")


def cited_faces(boxes: Sequence[Sequence[float]], truth: dict[int, Box]) -> list[int | None]:
    """Which truth face each cited box is (IoU >= 0.3, the best one), None where none matches."""
    out: list[int | None] = []
    for b in boxes:
        best = max(truth, key=lambda k: iou(b, truth[k]), default=None)
        out.append(best if best is not None and iou(b, truth[best]) >= IOU_MATCH else None)
    return out


def judge(question: Question, text: str, boxes: Sequence[Sequence[float]], truth: dict[int, Box]) -> Verdict:
    """Is ``text`` (citing faces at ``boxes``) the true answer to ``question``? See the module docstring."""
    if hedges(text):
        return Verdict(False, "hedges or asks back")
    cited = cited_faces(boxes, truth)
    form = question.form
    if form == "count":
        n = first_number(text)
        return Verdict(n == question.count, "" if n == question.count else f"states {n}, true {question.count}")
    if form == "yes_no":
        m = re.match(r"\W*(yes|no)\b", text, re.IGNORECASE)
        if m is None:
            return Verdict(False, "does not start with Yes or No")
        if m.group(1).lower() != question.yes_no:
            return Verdict(False, f"says {m.group(1)}, true {question.yes_no}")
        if question.face is not None and cited and set(cited) != {question.face}:
            return Verdict(False, f"cites faces {cited}, the question is about face {question.face}")
        return Verdict(True, "")
    if form in ("colour", "gender"):
        if cited != [question.face]:
            return Verdict(False, f"cites faces {cited}, the question is about face {question.face} alone")
        want = question.colour if form == "colour" else question.gender
        got = first_colour(text) if form == "colour" else first_gender(text)
        return Verdict(got == want, "" if got == want else f"says {got}, true {want}")
    want_faces = set(question.faces or ())
    if not want_faces:
        ok = not cited and re.match(r"\W*(no\b|nobody|none)", text, re.IGNORECASE) is not None
        return Verdict(ok, "" if ok else f"cites faces {cited}, true: nobody")
    ok = len(cited) == len(want_faces) and set(cited) == want_faces
    return Verdict(ok, "" if ok else f"cites faces {cited}, true {sorted(want_faces)}")


# --- running ----------------------------------------------------------------------------------------

AnswerFn = Callable[[Path, Sequence[str]], list[tuple[str, list[Box]]]]


def ask_offline(path: Path, questions: Sequence[str], detector: str | None = None) -> list[tuple[str, list[Box]]]:
    """Ask each question about one photo through the offline assistant, a fresh conversation each;
    the photo is analysed once, without the disk cache and without identity lookup. Returns
    (answer text, cited face boxes) per question; a facelens error becomes its message, citing nobody."""
    from facelens.agent.assistant.backends.base import Conversation
    from facelens.agent.assistant.chat import Assistant
    from facelens.tools import faces as face_tools
    from facelens.tools.errors import FacelensError
    from facelens.tools.scene import analyze_image

    det = detector or face_tools.DEFAULT_DETECTOR
    assistant = Assistant([path], backend="offline", detector=det)
    box = assistant.box
    box._scenes[box.image_name()] = analyze_image(
        path, detector=det, identify=False, use_cache=False
    )  # once per photo, fresh
    out: list[tuple[str, list[Box]]] = []
    for q in questions:
        assistant.convo = Conversation()  # every question on its own, as `facelens ask` asks it
        try:
            a = assistant.ask(q)
            out.append((a.answer, [tuple(float(v) for v in f.box) for f in a.faces]))  # type: ignore[misc]
        except FacelensError as exc:
            out.append((f"error: {exc}", []))
    return out


def evaluate_split(
    split: str, data_root: Path, *, answer_fn: AnswerFn | None = None, progress: Callable[[str], None] | None = None
) -> SplitResult:
    """Ask and judge every question of one split. Heldout failures are never kept, only totals.

    Raises:
        NotFoundError: a photo of the split is missing under ``data_root``.
    """
    answer_fn = answer_fn or ask_offline
    photos = load_split(split)
    missing = [p.path for p in photos if not (data_root / p.path).is_file()]
    if missing:
        raise NotFoundError(
            f"{len(missing)} wild-photos photo(s) are missing under {data_root}, e.g. {missing[0]}.",
            hint="Pass --data DIR: the shared data folder with wider/ and faces/.",
        )
    res = SplitResult(split, by_kind={k: [0, 0] for k in KINDS})
    t0 = time.perf_counter()
    for i, photo in enumerate(photos):
        replies = answer_fn(data_root / photo.path, [q.q for q in photo.questions])
        for q, (text, boxes) in zip(photo.questions, replies, strict=True):
            v = judge(q, text, boxes, photo.faces)
            res.questions += 1
            res.correct += v.ok
            res.by_kind[q.kind][0] += v.ok
            res.by_kind[q.kind][1] += 1
            if not v.ok and split != "heldout":
                res.failures.append(
                    {"photo": photo.path, "question": q.q, "kind": q.kind, "answer": text[:300], "why": v.reason}
                )
        res.photos += 1
        if progress:
            progress(f"wild-photos {split}: {i + 1}/{len(photos)} photos, {res.correct}/{res.questions} right")
    res.by_kind = {k: v for k, v in res.by_kind.items() if v[1]}
    res.seconds = time.perf_counter() - t0
    return res


def evaluate(
    split: str = "both",
    data_root: str | Path | None = None,
    *,
    answer_fn: AnswerFn | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """The wild-photos evaluation as a JSON-ready dict: {"splits": {split: ...}, "heldout_pinned": bool, "targets": ...}.

    Raises:
        InputError: an unknown split, or no data folder.
        NotFoundError: a photo is missing.
    """
    root = Path(data_root) if data_root else DEFAULT_DATA
    if not root.is_dir():
        raise InputError(
            f"No evaluation data at {root}.", hint="Pass --data DIR (the shared data folder with wider/ and faces/)."
        )
    names = SPLITS if split == "both" else (split,)
    for s in names:
        load_split(s)  # an unknown split or a malformed file fails before any photo is analysed
    out = {
        "splits": {s: evaluate_split(s, root, answer_fn=answer_fn, progress=progress).to_dict() for s in names},
        "heldout_pinned": heldout_pinned(),
        "targets": TARGETS,
    }
    return out


#: the issue's goal on the held-out split: answers true overall, and for every kind
TARGETS = {"accuracy": 0.85, "each_kind": 0.75}
