"""Choose the short-question settings on the *tune* split only (the held-out split is never read here).

    python bench/speech_short_tune.py [CANDIDATE ...]   # default: all candidates

Prints word accuracy / exact per candidate; the chosen one goes into tools/speech.py SHORT_OPTIONS.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from facelens.eval.speech import evaluate, make_clips
from facelens.tools.speech import SHORT_PROMPT, ShortOptions, Transcriber

VOCAB = "How many people are smiling? Who is on the left? Is face two happy? Four two seven. Yes. No."
# a longer prompt: the product's question words (no names: those are the user's); chosen, now SHORT_PROMPT
VOCAB2 = SHORT_PROMPT
BASE = ShortOptions(prompt=None)  # round 1 and 2 started from the long-recording settings, no prompt
CANDIDATES = {
    "current": None,  # the long-recording path
    "same": BASE,
    "pad0.5": dataclasses.replace(BASE, pad_seconds=0.5),
    "pad1.0": dataclasses.replace(BASE, pad_seconds=1.0),
    "novad": dataclasses.replace(BASE, vad_filter=False),
    "vad0.35": dataclasses.replace(BASE, vad_threshold=0.35, speech_pad_ms=400),
    "beam1": dataclasses.replace(BASE, beam_size=1),
    "beam8": dataclasses.replace(BASE, beam_size=8),
    "prompt": dataclasses.replace(BASE, prompt=VOCAB),
    "hotwords": dataclasses.replace(BASE, hotwords="smiling left right face people digits yes no"),
    "nots": dataclasses.replace(BASE, without_timestamps=True),
    "t0": dataclasses.replace(BASE, temperatures=(0.0,)),
    # round 2: combinations with the prompt, the one clear win of round 1
    "prompt2": dataclasses.replace(BASE, prompt=VOCAB2),
    "prompt+pad0.5": dataclasses.replace(BASE, prompt=VOCAB, pad_seconds=0.5),
    "prompt+hotwords": dataclasses.replace(BASE, prompt=VOCAB, hotwords="face smiling left right"),
    "prompt+nots": dataclasses.replace(BASE, prompt=VOCAB, without_timestamps=True),
    "prompt+beam1": dataclasses.replace(BASE, prompt=VOCAB, beam_size=1),
    # round 3 (the lead, after the held-out 16 kHz digits showed "no, no, no" loops): repetition guards
    "prompt2-yesno": dataclasses.replace(BASE, prompt=VOCAB2.replace(" Yes. No.", "")),
    "prompt2+norepeat3": dataclasses.replace(BASE, prompt=VOCAB2, no_repeat_ngram_size=3),
    "prompt2-yesno+norepeat3": dataclasses.replace(
        BASE, prompt=VOCAB2.replace(" Yes. No.", ""), no_repeat_ngram_size=3
    ),
}


def main(argv: list[str]) -> int:
    names = argv or list(CANDIDATES)
    clips = make_clips(("tune",))
    for name in names:
        opts = CANDIDATES[name]
        tr = Transcriber(short_options=opts or BASE).load()
        res = evaluate(clips, tr, short=opts is not None)
        row = {k: (v["word_accuracy"], v["exact"], v["latency_ms_median"]) for k, v in res.items()}
        print(name, json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
