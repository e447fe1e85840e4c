"""Identity: who is who, by 128-d face embeddings (SFace or dlib's), in a gallery of enrolled people.

The one place to import identity from. It gathers, without code of its own beyond two constants:

- the stores: :class:`FaissGallery` (the default, one crash-safe file under FACELENS_HOME:
  tools/identity_faiss.py) and ``MilvusGallery`` (tools/identity_milvus.py), chosen by
  :func:`open_gallery` (tools/identity_store.py); their shared types (:class:`Entry`, :class:`Person`,
  :class:`Removal`) and :func:`check_embedding` are in tools/identity_base.py;
- what works on any store (tools/identity_store.py): :func:`lookup`, :func:`enroll`,
  :func:`face_for_enrollment`, :func:`import_folder`.

Names are tidied once (Unicode NFKC, whitespace collapsed) and are unique without regard to case:
enrolling "alice" when "Alice" exists adds to Alice. Invisible, control and mixed-script names, and
new names that look like an enrolled one, are refused (tools/names.py).

The gallery records which embedding made its vectors (``embedding`` in its metadata; none recorded =
dlib, as every gallery before SFace) and refuses vectors of another (tools/embedders.py).

Matching is open-set: a face whose nearest enrolled embedding is farther than the threshold is
"unknown" (with its distance), never forced onto the nearest name.
"""

from __future__ import annotations

from facelens.tools import embedders
from facelens.tools.identity_base import DIM, Entry, IdentityStore, Person, Removal, check_embedding  # noqa: F401 (re-exported)
from facelens.tools.identity_faiss import EXACT_LIMIT, NPROBE, FaissGallery, build_index, search_index  # noqa: F401 (re-exported)
from facelens.tools.identity_store import (  # noqa: F401 (re-exported)
    IMAGE_SUFFIXES,
    Enrolled,
    enroll,
    face_for_enrollment,
    import_folder,
    lookup,
    open_gallery,
)
from facelens.tools.names import RESERVED, check_name, look_alike, name_key, one_person, tidy  # noqa: F401 (re-exported)


def __getattr__(name: str) -> float:
    """``DEFAULT_THRESHOLD``: dlib's open-set L2 threshold, tuned on ../shared/data/faces/identity (see
    bench/identity_threshold.py), 0.53 unless FACELENS_IDENTITY_THRESHOLD says otherwise (read when used);
    each embedding has its own (tools/embedders.THRESHOLDS: SFace 1.05), a gallery uses its embedding's."""
    if name == "DEFAULT_THRESHOLD":
        return embedders.threshold("dlib")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: within one recording (same camera, light and person minutes apart) a face closer than this to a
#: track's mean dlib embedding continues that track (agent/sessions/ingest.py); a little looser than the
#: gallery's open-set threshold, which must also reject strangers photographed elsewhere (SFace's:
#: tools/embedders.TRACK_SAME_PERSON)
TRACK_SAME_PERSON = 0.55
