"""Patterns of the offline understanding step (agent/assistant/understanding.py): slot words, question cues, limits."""

from __future__ import annotations

import re

from facelens.agent.assistant.lexicon import (
    CHILD_WORDS,
    EMOTION_PHRASES,
    FEMALE_WORDS,
    MALE_WORDS,
    SUPERLATIVE_PHRASES,
    Patterns,
    phrase_regex,
)
from facelens.agent.assistant.referring import COLOUR_ALTERNATION

MAX_CHARS = 1000  # longer questions are refused with a clear reply
THRESHOLD = 0.50  # nearest-exemplar similarity below which the planner asks instead of answering
CANON_EMOTION = {
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "surprise": "surprised",
    "fear": "scared",
    "disgust": "disgusted",
    "neutral": "calm",
}
CANON_SUPERLATIVE = {
    "happy": "happiest",
    "sad": "saddest",
    "angry": "angriest",
    "surprise": "most surprised",
    "fear": "most scared",
    "disgust": "most disgusted",
    "neutral": "calmest",
    "oldest": "oldest",
    "youngest": "youngest",
}
EMOTION_RES = {label: re.compile(phrase_regex(p)) for label, p in EMOTION_PHRASES.items()}
ANY_EMOTION = phrase_regex([p for ps in EMOTION_PHRASES.values() for p in ps])
SUPERLATIVE_RES = {
    k: re.compile(
        phrase_regex(p) + "|" + rf"\b(?:the\s+)?(?:most|least)\s+(?:{phrase_regex(EMOTION_PHRASES[k])[5:-3]})\b"
        if k in EMOTION_PHRASES
        else phrase_regex(p)
    )
    for k, p in SUPERLATIVE_PHRASES.items()
}
GARMENT = r"(?:shirts?|t-?shirts?|tops?|jackets?|dress(?:es)?|sweaters?|jumpers?|clothes|clothing|hoodies?|coats?|blouses?|outfits?|suits?|on)"
_NUM = r"\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten"
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
#: yes/no that anyone is there at all, or that it is a group / one person: a count, answered yes or no
_WHO_AT_ALL = r"(?:any|anyone|anybody|someone|somebody|people|any people|a person|any persons?|a face|faces|any faces|humans?|a human)"
_WHERE_TAIL = r"(?:\s+(?:at all|in (?:the|this|that) (?:photo|picture|image|pic|shot|one|frame)|in it|in here|in there|here|there|visible|present|you can see|in view))*\s*[?!.]*"
#: the question understanding's patterns by name (`RE.wh`, `RE.count`), matched on the lower-cased, tidied question
RE = Patterns(
    {
        "colour_ctx": (
            rf"\b(?:in|wearing|wears|wear|dressed in|with|has|have|got|has on|have on)\s+(?:a |an |the |some )?(?:\w+ )?({COLOUR_ALTERNATION})\b"
            rf"|\b({COLOUR_ALTERNATION})\s+{GARMENT}\b"
        ),
        "bare_colour": rf"\b({COLOUR_ALTERNATION})\b",
        "blue_mood": (
            r"\b(?:look(?:s|ing)?|feel(?:s|ing)?|seem(?:s|ing)?|someone|somebody|anyone|anybody|is|are|a bit)\s+blue\b(?!\s+"
            + GARMENT
            + ")"
        ),
        "child": rf"\b(?:{CHILD_WORDS})\b",
        "female": rf"\b(?:{FEMALE_WORDS})\b",
        "male": rf"\b(?:{MALE_WORDS})\b",
        "pronoun": r"\b(?:she|her|he|him|his|they|them|their|that person|this person|that one|this one)\b",
        "aux": (
            r"^(?:is|are|was|were|does|do|did|can|could|would|will|has|have|any|anybody|anyone|someone|somebody|"
            r"isn't|aren't|doesn't|don't|wasn't|didn't|tell me if|tell me whether|(?:can|could) (?:you|u) (?:tell|see|say)(?: me)? (?:if|whether)|(?:can|could) (?:you|u) (?:confirm|check)|"
            r"(?:do|would|wouldn't|don't) (?:you|u) (?:think|say|reckon|agree)|wouldn't|couldn't|won't|hasn't|haven't|i wonder if|i wonder whether|is it true that|am i right that)\b"
        ),
        "tag": (
            r"(?:,?\s*(?:right|correct|yes or no|or not|or what|innit|"
            r"(?:is|are|was|were|does|do|did|has|have)n't (?:it|they|she|he|there|you))"
            r"|,\s*(?:true|no|yeah|yes|eh|huh|ok|okay|agreed|(?:is|are|was|were|does|do|did|has|have)(?: not)? (?:it|they|she|he|there|you)))\s*\??$"
        ),
        "wh": r"\b(?:who|what|which|where|how|when|why|whose|tell|describe|list|show|give|name|count|identify|point)\b",
        "alternative": r"\b(?!yes\b)\w+ or (?:a |an )?(?!not\b|no\b|what\b)\w+\b",
        "json": r"\bjson\b",
        "same": r"\b(?:be (?:face|person|number) ?#?\d+|same|different (?:people|persons|person|individuals)|alike|twins?|compare|vs\.?|versus|identical|match(?:es)?|resembles?|look like each other|one and the same|one person|also)\b|=",
        "face_num": r"(?:\bfaces?|\bperson|\bpeople|\bnumber(?:ed)?|#)\s*(?:number(?:ed)?\s*|#\s*)?(\d{1,3})\b|\band\s+(\d{1,3})\b",
        "transcript": (
            r"\b(?:transcript|transcribe|audio|recording|recorded|mention(?:ed|s)?|said|(?<!you )(?<!to )say|saying|discuss(?:ed|es|ing)?|says|spoken|spoke|speech|"
            r"talk(?:ed|s|ing)? about|conversation|discussed|discussion|chat(?:ted|ting)? about|words? (?:were|was)|words spoken)\b"
        ),
        "race": (
            r"\b(race|races|racial|ethnic|ethnicity|ethnicities|ethnically|skin colou?r|skin tone|caucasian|asian|african|black people|"
            r"white people|hispanic|latino|latina|arab|indian|nationality|nationalities|what country .* from)\b"
            r"|\bwhere (?:is|are|was|were|do|does|did)\b.* (?:from|come from|originally from)(?: originally)?\s*\??$"
        ),
        # "is the one on the left black or white" asks race; "is she wearing black or white" asks clothing
        "race_bw": r"^(?:is|are|was|were)\b.*\b(?:black|white|brown)(?: or (?:black|white|brown))?\s*\??$",
        "clothing_bw": rf"^(?:is|are|was)\s+(?:his|her|their|its|the)\s+{GARMENT}\b|\b(?:wearing|wears|wear|in|dressed in|colou?r)\s+(?:a |an |the |all )?(?:black|white|brown)(?: or (?:black|white|brown))?\s*\??$",
        "count": r"\bhow many\b(?!\s+(?:years?|yrs|decades|birthdays|summers)\b)|\bcount\b|\bnumber of\b|\bheadcount\b|\btotal (?:people|number)\b|\b(?:people|person) count\b|^total people",
        "gender_q": (
            r"\b(?:gender|sex)\b|\b(?:male|man|guy|boy) or (?:a )?(?:female|woman|girl|lady)\b|\b(?:female|woman|girl|lady) or (?:a )?(?:male|man|guy|boy)\b"
            r"|^(?:is|was|does|tell me if|tell me whether|(?:would|do|wouldn't|don't) (?:you|u) (?:say|think|reckon)|(?:can|could) (?:you|u) tell(?: me)? (?:if|whether)|"
            r"i wonder if|am i right that|is it true that)\b.*\b(?:a )?(?:female|male|woman|man|girl|boy|lady|guy|bloke|dude|fella|gal|lass|lad|chap)"
            r"(?:\s+(?:to you|to me|do you think|would you say|or not|right|at all))?\s*\??$"
        ),
        "age_q": r"\bhow old\b|\bage\b|\bwhat age\b|\byears old\b|\bhow young\b|\byoung or old\b|\bold or young\b",
        "clothing_q": (
            rf"^(?:is|are|was|does|do)\b(?!.*\b(?:anyone|anybody|someone|somebody|any|nobody|no one|everyone|everybody|all|people|who)\b).*\b(?:wearing|wear|dressed in|dressed all in)\s+(?:a |an |the |some |all )?(?:{COLOUR_ALTERNATION})\b(?:\s+{GARMENT})?\s*\??$|"
            r"\b(?:outfit|outfits|attire|garments?)\b|\b(?:wearing|wear|wears|dressed in|clothes|clothing|got on|have on|has on|outfit)\s*\??$|\bwhat colou?r\b|\bcolou?r of\b"
            r"|\bwhat (?:is|are|does) \S+(?: \S+){0,5} (?:wearing|wear|dressed in)\s+(?:today|now|here)?\s*\??$"
        ),
        "where_q": r"^where\b|\bwhich side\b|\blocate\b|\bposition of\b|\bwhere (?:is|are|in)\b",
        "emotion_q": r"\b(?:emotion|emotions|emotionally|mood|feel|feels|feeling|feelings|expression|doing|vibes?|come across|comes across|seem|seems)\b",
        "presence_q": (
            r"\bin (?:this|that|it|here)\s*\??$|\b(?:here|there|present|in (?:the|this|that) (?:picture|photo|image|shot|pic)|in it|anywhere|one of (?:them|these|those|the)|"
            r"among|appear|appears|show up|sign of|make it|see|spot|find|around|visible|in this one)\b"
        ),
        "person_cue": (
            r"\b(?:left|right|middle|centre|leftmost|rightmost|far|second|third|fourth|fifth|first|last|front|back|closest|"
            r"nearest|biggest|largest|smallest|she|he|her|him|his|that person|this person|that one|this one)\b|\bthe \w+ one\b"
            r"|(?:\bfaces?|\bperson|\bnumber(?:ed)?|#)\s*\d"
        ),
        "position_words": (
            r"\b(?:(?:the )?(?:far|very) (?:left|right)|left[- ]?most|right[- ]?most|(?:furthest|farthest|most) (?:to the )?(?:left|right)|"
            r"(?:first|second|third|fourth|fifth|last)(?: \w+){0,2} (?:from|counting from) (?:the )?(?:left|right)|"
            r"(?:on|at|to) the (?:left|right|end)|left|right|middle|centre|central)\b"
        ),
        "colour_ref": rf"\b(?:in|wearing|dressed in|with|who has|who is in)\s+(?:a |an |the )?(?:{COLOUR_ALTERNATION})(?:\s+{GARMENT})?\b|\b(?:{COLOUR_ALTERNATION})\s+{GARMENT}\b",
        "ref_np": (
            r"\b(?:the|that|this)\s+(?:[\w-]+\s+){0,2}?(?:person|one|guy|man|woman|lady|girl|boy|dude|face|bloke|gentleman)\b"
            r"(?:\s+(?:in|on|at|from|counting from)(?:\s+the)?(?:\s+(?:end|side))?\b)?"
        ),
        "who_all": (
            r"\b(?:here|there|in (?:the|this|that|it)|photo|picture|image|pic|shot|these|they|them|people|anyone|anybody|everyone|"
            r"everybody|recogni[sz]e|know|identify|names?|who is who)\b"
        ),
        # yes/no about how many people: "are there more than 3 people?", "is it just one person?", "is there only one face"
        "count_cmp": (
            rf"^(?:is|are|was|were|isn't|aren't)\s+(?:there|it|they|these|those|we)\s+(?:really\s+|actually\s+)?"
            rf"(?:(more than|over|fewer than|less than|at least|at most|no more than|exactly|only|just|under)\s+)?"
            rf"(?:the\s+)?({_NUM})\s+(?:people|persons?|faces?|of (?:them|us))\b"
        ),
        # yes/no about an age: "is anyone over 40?", "is the guy on the left younger than 30" (a number of people is a count)
        "age_cmp": (
            r"\b(over|older than|above|past|under|younger than|below)\s+(?:the age of\s+|age\s+)?(\d{1,3})"
            r"(?!\s*(?:people|persons?|faces?|of\b|%|percent|kids|children))\b(\s*(?:years?|yrs?|y/?o)\b)?"
        ),
        # yes/no about an age in words: "is anyone old?", "is face 2 young" (old: apparent age over 60; young: under 20)
        "age_word": r"\b(?:(old|elderly|senior|aged|an old (?:person|man|woman|lady|guy))|(young|youthful|a young (?:person|man|woman|lady|guy)))\b",
        "exists": (
            rf"^(?:(?:is|are|was|were) there {_WHO_AT_ALL}|(?:can|could|do|did) (?:you|u) (?:see|spot|find|detect) {_WHO_AT_ALL}|"
            rf"(?:is|are) (?:anyone|anybody|someone|somebody|people)(?=\s+(?:here|there|in|visible|present|at all))){_WHERE_TAIL}$"
        ),
        "group": (
            r"\b(?:(group (?:photo|picture|shot|pic|image|selfie)|group of (?:people|friends)|crowd)|"
            r"(selfie|solo (?:photo|picture|shot|portrait)|portrait of one|(?:alone|by (?:him|her|them)sel(?:f|ves)|on (?:his|her|their) own)))\b"
        ),
        "empty": r"^(?:is|was)\s+(?:the |this |that |it )?(?:photo|picture|image|pic|shot|it|this)?\s*(?:completely |totally )?empty\b",
        "known": r"\b(?:recogni[sz]e|know|known|enrolled|in the gallery|familiar)\b",
        # "... and who is it?", "... and if so, who?": the yes/no answer already names who
        "who_tail": (
            r"(?:\?\s*|,?\s+and\s+|,\s*)(?:if so,?\s+|if yes,?\s+|so\s+)?(?:who|which one|which ones|which)"
            r"(?:\s+(?:is it|is that|are they|are those|are these|is he|is she|one|ones))?\s*[?!.]*$"
        ),
        # how a compound question splits: "who looks happiest and how old is she?"
        "split": (
            r",?\s+(?:and )?then\s+(?=(?:tell|who|what|how|which|where|give|show)\b)|\?+\s+(?=\S)|;\s*|,?\s+-?\s*\band\s+(?=(?:then\s+|also\s+|roughly\s+|approximately\s+|about\s+|just\s+|so\s+)?(?:who|what|how|which|where|is|are|does|do|can|tell|give|what's|their|her|his)\b)"
            r"|,\s+(?=(?:and\s+)?(?:who|what|how|which|where|tell)\b)"
        ),
        # openings that do not change what is asked ("hey, ...", "if you had to pick, ...")
        "filler": (
            r"^(?:(?:hey|hi|hello|ok|okay|so|well|um+|uh+|oh|quick question|just curious|honestly|please|"
            r"in your opinion|if you (?:had to|have to|could|must) (?:pick|choose|guess|say)(?: one)?)\b[,!.:-]*\s*)+"
        ),
        # "is face 1 Zoe?", "is the person on the left Zoe", "is it Zoe on the left": a name asked of one person
        "name_of_person": (
            r"^(?:is|was)\s+(?:face\s*#?\d+|person\s*#?\d+|number\s*\d+|the\s.+?|it|that|this|she|he)\s+(\w[\w'.-]*)"
            r"(?:\s+(?:on|at) the (?:far )?(?:left|right)|\s+in the middle)?\s*[?!.]*$"
        ),
    }
)
#: name-shaped words in a presence question ("is zoe here", "any sign of Marcus")
NAME_PATTERNS = [
    re.compile(p)
    for p in (
        r"\b(?:see|spot|find|tell|check)(?: me)? (?:if|whether) (\w[\w'.-]*)",
        r"\b(?:confirm|check)(?: that| if| whether)? (\w[\w'.-]*) (?:is|was|appears)\b",
        r"^(?:is|was)\s+(\w[\w'.-]*)\s+(?:in|on|here|there|present|visible|anywhere|one of|among|with|at|around|about)\b",
        r"^(?:is|was)\s+(\w[\w'.-]*)\s*\??$",
        r"\b(?:see|spot|spotted|seen|find|found|recogni[sz]e|locate|notice|noticed)\s+(\w[\w'.-]*)",
        r"^(\w[\w'.-]*)\s+(?:here|there|in the|in this|present|around|anywhere|in pic|in picture)\b",
        r"^(\w[\w'.-]*)\s*\??$",
        r"\bsign of\s+(\w[\w'.-]*)",
        r"^(?:does|did)\s+(\w[\w'.-]*)\s+(?:appear|show up|feature|make it)",
        # "is Zoe pictured", "is Zoe somewhere in this photo", "isn't Zoe here", "Zoe: here or not?", "would Zoe be in this picture"
        r"^(?:is not|isn't|isnt|is|was)\s+(?:there\s+)?(\w[\w'.-]*)\s+(?:\w+\s+)?(?:pictured|somewhere|maybe|possibly|perhaps|to be (?:found|seen)|in|on|here|there|present|visible|anywhere)\b",
        r"^(\w[\w'.-]*)\s*[:,-]\s*(?:here|there|present|in (?:the|this|it))\b",
        r"^(?:would|could|might|does|did|will)\s+(\w[\w'.-]*)\s+(?:be|happen to be|show up|appear|feature|make it)\b",
        r"\b(?:have|has|got|include|includes|including|contain|contains)\s+(\w[\w'.-]*)\s+(?:in|here|there|on)\b",
        r"\b(?:include|includes|contain|contains)\s+(\w[\w'.-]*)\s*[?!.]*$",
        r"\b(\w[\w'.-]*)\s+(?:is|isn't|is not)\s+(?:in|here|there|present|pictured)\b",
    )
]
#: lower-case words that are no name even where a name is asked ("did you find anything", "is mine here")
NOT_LOWER_NAMES = {
    "anything",
    "something",
    "nothing",
    "everything",
    "mine",
    "yours",
    "ours",
    "theirs",
    "those",
    "these",
    "everybody",
    "myself",
    "yourself",
    "himself",
    "herself",
    "themselves",
    "anyone",
    "another",
    "other",
    "others",
    "more",
    "less",
    "kid",
    "child",
    "baby",
    "man",
    "woman",
    "guy",
    "girl",
    "boy",
    "lady",
    "men",
    "women",
    "group",
    "family",
    "friends",
    "friend",
    "team",
    "crowd",
    "many",
    "much",
    "few",
    "several",
    "both",
    "either",
    "neither",
    "each",
    "every",
    "same",
    "really",
    "actually",
    "also",
    "still",
    "just",
    "only",
    "even",
    "maybe",
    "perhaps",
    "definitely",
    "somewhere",
    "anywhere",
    "going",
    "being",
    "doing",
    "looking",
    "wearing",
    "standing",
    "sitting",
    "smiling",
    "anybody",
    "somebody",
    "nobody",
    "none",
    "can",
    "could",
    "would",
    "should",
    "will",
    "did",
    "does",
    "do",
    "has",
    "have",
    "had",
    "was",
    "were",
    "be",
    "been",
    "am",
}
NOT_NAMES = {
    "if",
    "whether",
    "she",
    "he",
    "it",
    "this",
    "that",
    "there",
    "anyone",
    "someone",
    "everyone",
    "anybody",
    "somebody",
    "the",
    "a",
    "an",
    "they",
    "person",
    "face",
    "nobody",
    "her",
    "him",
    "any",
    "me",
    "them",
    "people",
    "everybody",
    "who",
    "what",
    "here",
    "you",
    "us",
    "one",
    "picture",
    "photo",
    "image",
    "kids",
    "children",
    "is",
    "are",
    "we",
    "i",
    "there's",
    "no",
    "not",
    "one's",
    "someone's",
    "anyone's",
    "everyone's",
    "nobody's",
    "all",
    "some",
    "any1",
    "every1",
    "people's",
}


EMOJI = {
    "happy": "😀😃😄😁😊🙂☺😆😍🥰😂🤣",
    "sad": "😢😭☹🙁😞😔😿",
    "angry": "😠😡🤬😤",
    "surprise": "😮😲😯😱",
    "fear": "😨😰",
    "disgust": "🤢🤮",
}


ENGLISH = frozenset(
    """a an the is are was were be do does did can could would will shall should may might must have has had
i you he she it we they me him her us them my your his its our their this that these those who whom whose what which where
when why how and or but not no yes of in on at to for from with by about as into over under here there any some all every
each many much more most less least one two three there's what's who's how's let tell give show describe count look looks
see find people person face faces photo picture image pic please thanks hello hi hey ok okay""".split()
)
