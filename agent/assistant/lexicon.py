"""Everyday words for what the offline planner understands: emotions, superlatives, casual spellings.

Used by :mod:`facelens.agent.assistant.understanding` for slot extraction (exact, rule-based) and for typo
correction (a misspelt word is mapped onto the closest word of :data:`DOMAIN_WORDS`).
"""

from __future__ import annotations

import re

#: emotion label -> everyday words and phrases that mean "looks <label>" (longest matched first)
EMOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "happy": ("happy", "smiling", "smile", "smiles", "smiley", "cheerful", "cheery", "joyful", "joyous", "glad", "pleased",
              "delighted", "beaming", "grinning", "grin", "laughing", "laughs", "content", "in a good mood", "all smiles",
              "jolly", "merry", "elated", "thrilled", "excited", "ecstatic", "chuffed", "upbeat", "happy looking", "over the moon"),
    "sad": ("sad", "unhappy", "upset", "crying", "cries", "tearful", "teary", "in tears", "gloomy", "miserable", "depressed",
            "sorrowful", "heartbroken", "glum", "melancholy", "sad looking", "down", "feeling down", "blue", "downcast",
            "dejected", "despondent", "mournful", "bummed", "bummed out", "low", "sombre", "somber"),
    "angry": ("angry", "mad", "annoyed", "irritated", "furious", "cross", "livid", "pissed", "pissed off", "grumpy", "frowning",
              "agitated", "irate", "fuming", "enraged", "hostile", "outraged", "raging", "seething", "frustrated", "angered",
              "ticked off", "cranky", "grouchy", "scowling", "in a bad mood"),
    "surprise": ("surprised", "surprise", "shocked", "astonished", "amazed", "startled", "stunned", "taken aback", "gobsmacked",
                 "caught off guard", "astounded", "flabbergasted", "in shock", "dumbfounded", "speechless", "wide eyed",
                 "wide-eyed", "open mouthed", "jaw dropped"),
    "fear": ("scared", "afraid", "fearful", "frightened", "terrified", "nervous", "anxious", "worried", "panicked", "panicky",
             "spooked", "alarmed", "petrified", "horrified", "uneasy", "tense", "freaked out", "freaked", "in fear", "fear"),
    "disgust": ("disgusted", "grossed out", "grossed-out", "grossed", "repulsed", "revolted", "repelled", "sickened",
                "nauseated", "disgust", "gross", "appalled", "put off", "icked out", "squeamish"),
    "neutral": ("neutral", "calm", "serious", "blank", "expressionless", "poker faced", "poker-faced", "deadpan",
                "straight faced", "straight-faced", "emotionless", "stoic", "relaxed", "impassive", "indifferent",
                "no expression", "unemotional", "composed", "plain faced"),
}
#: superlative key -> phrases ("happiest", "the biggest grin", "most senior")
SUPERLATIVE_PHRASES: dict[str, tuple[str, ...]] = {
    "happy": ("happiest", "cheeriest", "cheerfullest", "jolliest", "biggest smile", "biggest grin", "widest smile", "smiles the most",
              "smiling the most", "smiling most", "most smiley"),
    "sad": ("saddest", "unhappiest", "gloomiest", "glummest", "most depressed"),
    "angry": ("angriest", "maddest", "grumpiest", "crossest", "crankiest", "grouchiest"),
    "surprise": ("most surprised",),
    "fear": ("scaredest", "most fearful"),
    "disgust": ("grossest looking", "grossest"),
    "neutral": ("calmest", "most expressionless", "most serious"),
    "oldest": ("oldest", "eldest", "most senior", "most elderly", "greatest age", "most aged"),
    "youngest": ("youngest", "most junior", "baby of the group", "most youthful", "least old"),
}
CHILD_WORDS = r"kids?|children|child|minors?|teens?|teenagers?|bab(?:y|ies)|toddlers?|infants?|under(?:age| 18| 20| eighteen)|youngsters?|wee ones|little ones|young ones|little kids|kiddos?|kiddies|tots|nippers"
FEMALE_WORDS = r"women|woman|ladies|lady|girls?|females?|gals?|gal|she"
MALE_WORDS = r"men|man|guys?|boys?|males?|blokes?|gentlem[ae]n|dudes?|lads?|fellas?|he"

#: word stems in analysts' session questions -> the stored emotion labels they mean
SESSION_EMOTION_STEMS: dict[str, tuple[str, ...]] = {
    "frustrat": ("angry", "disgust"), "angr": ("angry",), "anger": ("angry",), "mad": ("angry",), "annoy": ("angry",),
    "furious": ("angry",), "irritat": ("angry",), "tense": ("angry",), "upset": ("angry", "sad"), "happ": ("happy",),
    "smil": ("happy",), "pleased": ("happy",), "satisf": ("happy",), "joy": ("happy",), "sad": ("sad",),
    "unhapp": ("sad",), "disappoint": ("sad",), "scare": ("fear",), "afraid": ("fear",), "fear": ("fear",),
    "worr": ("fear",), "anxious": ("fear",), "nervous": ("fear",), "surpris": ("surprise",), "shock": ("surprise",),
    "disgust": ("disgust",), "neutral": ("neutral",), "calm": ("neutral",),
}
#: the word a session answer uses for a question stem's emotion
SESSION_EMOTION_NAMES = {"frustrat": "frustrated", "upset": "upset", "angr": "angry", "anger": "angry", "mad": "angry",
                 "tense": "tense", "smil": "happy", "happ": "happy"}
#: casual spellings -> plain words (whole words only)
CASUAL = {
    "ppl": "people", "peeps": "people", "ppls": "people", "r": "are", "u": "you", "ur": "your", "pic": "picture",
    "pics": "pictures", "pix": "picture", "img": "image", "pls": "please", "plz": "please",
    "whos": "who is", "whats": "what is", "wheres": "where is", "hows": "how is", "hw": "how", "wat": "what", "wot": "what",
    "n": "and", "any1": "anyone", "sum1": "someone", "some1": "someone", "every1": "everyone", "cn": "can", "cud": "could",
    "im": "i am", "ya": "you", "yr": "your", "feelin": "feeling", "doin": "doing", "lookin": "looking", "smilin": "smiling",
    "thx": "thanks", "bc": "because", "abt": "about", "w/": "with", "wearin": "wearing", "da": "the", "teh": "the",
    "wanna": "want to", "gimme": "give me", "dunno": "do not know", "y'all": "you all", "yall": "you all", "isnt": "is not",
    "doesnt": "does not", "dont": "do not", "who's": "who is", "what's": "what is", "where's": "where is",
    "how's": "how is", "that's": "that is", "there's": "there is", "here's": "here is", "it's": "it is", "he's": "he is",
    "she's": "she is", "they're": "they are", "photo's": "photo is", "2nd": "second", "1st": "first", "3rd": "third",
    "4th": "fourth", "5th": "fifth", "nr": "number", "num": "number", "mid": "middle", "center": "centre",
    "color": "colour", "colors": "colours", "colored": "coloured", "gray": "grey", "u2": "you too", "pple": "people",
    "persons": "people", "ne1": "anyone", "any1s": "anyone is", "sum1": "someone", "&": "and", "scarred": "scared", "scarry": "scary", "nobody's": "nobody is", "noone": "no one",
    "noone's": "no one is", "everyone's": "everyone is", "everybody's": "everybody is", "anyone's": "anyone is",
    "somebody's": "somebody is", "someone's": "someone is", "old's": "old is", "folks": "people", "folk": "people", "humans": "people", "individuals": "people", "dudes": "guys",
}

#: words typos are corrected towards (only words of 4+ letters the tokenizer does not know are corrected)
DOMAIN_WORDS = sorted({
    w for phrases in list(EMOTION_PHRASES.values()) + list(SUPERLATIVE_PHRASES.values()) for p in phrases for w in p.split() if len(w) >= 4
} | {
    "people", "person", "picture", "photo", "image", "many", "count", "number", "anyone", "anybody", "someone", "somebody",
    "everyone", "everybody", "left", "right", "middle", "centre", "second", "third", "fourth", "first", "last", "leftmost",
    "rightmost", "wearing", "wear", "clothes", "shirt", "colour", "describe", "description", "json", "compare", "same",
    "feeling", "feel", "feels", "looks", "look", "looking", "seem", "seems", "emotion", "emotions", "expression", "mood",
    "where", "what", "which", "there", "here", "their", "they", "children", "child", "kids", "women", "woman", "ladies",
    "girls", "guys", "gender", "male", "female", "identify", "recognise", "recognize", "name", "names", "enrolled",
    "transcript", "audio", "recording", "mention", "mentioned", "said", "everyone", "present", "visible", "standing",
    "furthest", "farthest", "closest", "biggest", "largest", "smallest", "front", "back", "purple", "yellow", "orange",
    "green", "black", "white", "brown", "pink", "grey", "blue", "red", "face", "faces", "about", "tell", "older", "young",
    "please", "photograph", "happy", "happiest", "surprised", "disgusted", "frightened", "neutral", "angry",
    "sad", "mad",  # short, but "sadd" and "madd" are typos of them
    # who the people are and what can't be seen (issue 24): kept as written, never "corrected" away
    "grownup", "grownups", "adult", "adults", "elderly", "seniors", "toddler", "teenager", "teenagers", "little",
    "glasses", "sunglasses", "suits", "beard", "necklace", "earrings", "uniform", "uniforms", "helmet",
})

_WORD_RE = re.compile(r"[a-z0-9#'/.-]+|[^a-z0-9\s]")


def phrase_regex(phrases: tuple[str, ...] | list[str]) -> str:
    """An alternation matching any of ``phrases`` as whole words, longest first."""
    alts = sorted({re.escape(p).replace(r"\ ", r"[\s-]+") for p in phrases}, key=lambda a: (-len(a), a))
    return r"\b(?:" + "|".join(alts) + r")\b"
