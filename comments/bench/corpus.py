"""Deterministic benchmark text: news-style comments and a BERT-sized vocabulary for them.

Nothing is downloaded: the words are a short list of real English words (the most
frequent ones) followed by generated, pronounceable pseudo-words, drawn with a Zipf
distribution like words in real text. The vocabulary holds the frequent ones whole and
word pieces for the rest, so comments tokenize to about as many tokens per word as
English does with bert-base-uncased (rare words split into two or three pieces).
"""

from __future__ import annotations

import itertools
import math
import random
from functools import lru_cache

#: bert-base-uncased's vocabulary size.
BERT_VOCAB_SIZE = 30522
#: Longest comment generated (characters); a site's own limit is usually about this.
MAX_COMMENT_CHARS = 5000
#: Median comment length in words: typical of comments under news articles.
MEDIAN_WORDS = 30
#: Spread of log(length): about one comment in ten has more than 100 words.
LENGTH_SIGMA = 0.95

# The most frequent words of comment threads (real English, before generated ones).
_REAL_WORDS = """
the of and to a in is that it for you was on are with as i this be have not but they at
he by from or we his an all my so there one what if their about can which would just
people like do will more your were has me when out been who up no them some time than
only her she had our other its how then any because think also into now these even get
very make know could should those much many well back after way over first said years
year new good most where see right going being still us did while same really article
government state world country news story point same own why say does here need want
never before against too through thing things better work every both between last long
great off life money public those under lot may might police law money tax taxes pay
vote voted party president minister trump biden election people's don't it's i'm can't
doesn't isn't that's you're they're wrong true fact facts agree disagree comment
comments writer author read reading wrote thanks thank please sorry yes okay nothing
something everything anyone someone everyone nobody less least little big small high low
part place case week day days month months again since another without around during
far each few down made used use another take taken given give show shows shown around
problem problems issue issues question questions answer idea ideas reason reasons stupid
idiot idiots fool fools moron morons dumb ugly shut kill die trash garbage loser losers
fucking fuck shit damn hell crap bad worse worst awful terrible pathetic disgusting
hate love nice sure actually probably maybe always often ever already though although
until city police school health care jobs job business company companies market economy
war military media press report reported bill court judge rights free freedom children
kids family families women men man woman young old local national foreign china russia
canada america american americans europe climate energy oil gas price prices cost costs
"""

_ONSETS = "b c d f g h j k l m n p r s t v w z bl br ch cl cr dr fl fr gr pl pr sh st th tr"
_VOWELS = "a e i o u ai ea ee ie oo ou"
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "rt"]


@lru_cache(maxsize=1)
def _syllables() -> tuple[str, ...]:
    codas = dict.fromkeys(_CODAS)
    return tuple(o + v + c for o in _ONSETS.split() for v in _VOWELS.split() for c in codas)


@lru_cache(maxsize=1)
def lexicon() -> tuple[str, ...]:
    """Every word comments are made of, most frequent first (about 60,000)."""
    rng = random.Random(20240501)
    syllables = _syllables()
    words: dict[str, None] = dict.fromkeys(_REAL_WORDS.split())
    while len(words) < 60_000:
        count = rng.choice((1, 2, 2, 2, 3))
        words.setdefault("".join(rng.choice(syllables) for _ in range(count)))
    return tuple(words)


@lru_cache(maxsize=1)
def _cumulative_weights() -> tuple[float, ...]:
    # Zipf's law with the usual offset: rank r has weight 1 / (r + 2.7).
    return tuple(itertools.accumulate(1.0 / (rank + 2.7) for rank in range(len(lexicon()))))


def build_vocab(size: int = BERT_VOCAB_SIZE) -> list[str]:
    """A WordPiece vocabulary of exactly *size* tokens, laid out like bert-base-uncased's.

    Special tokens first, then single characters and their ``##`` continuations (so no
    text needs ``[UNK]``), ``##`` syllables (the pieces rare words split into), and as
    many whole words from :func:`lexicon` as fit, most frequent first.

    Raises:
        ValueError: *size* is too small for the fixed part.
    """
    fixed: dict[str, None] = dict.fromkeys(["[PAD]", *(f"[unused{i}]" for i in range(99))])
    fixed.update(dict.fromkeys(["[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    characters = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    fixed.update(dict.fromkeys(characters))
    fixed.update(dict.fromkeys(f"##{c}" for c in characters if c.isalnum()))
    fixed.update(dict.fromkeys(f"##{s}" for s in _syllables()))
    if size < len(fixed):
        raise ValueError(f"a vocabulary needs at least {len(fixed)} tokens, asked for {size}")
    vocab = dict(fixed)
    for word in lexicon():
        if len(vocab) == size:
            break
        vocab.setdefault(word)
    return list(vocab)


def generate_comments(count: int, *, seed: int = 0) -> list[str]:
    """*count* comments with lengths typical of news sites, the same for the same seed.

    Lengths in words are log-normal (median :data:`MEDIAN_WORDS`, so most are a few
    sentences and a few run to hundreds of words), capped at :data:`MAX_COMMENT_CHARS`.
    """
    rng = random.Random(seed)
    words = lexicon()
    weights = _cumulative_weights()
    comments = []
    for _ in range(count):
        n_words = max(1, round(rng.lognormvariate(math.log(MEDIAN_WORDS), LENGTH_SIGMA)))
        drawn = rng.choices(words, cum_weights=weights, k=n_words)
        sentences = []
        while drawn:
            length = rng.randint(4, 22)
            sentence, drawn = drawn[:length], drawn[length:]
            if len(sentence) > 8 and rng.random() < 0.5:
                sentence[rng.randrange(2, len(sentence) - 2)] += ","
            text = " ".join(sentence)
            sentences.append(text[0].upper() + text[1:] + rng.choice(".......!?"))
        comment = " ".join(sentences)
        if len(comment) > MAX_COMMENT_CHARS:
            comment = comment[:MAX_COMMENT_CHARS].rsplit(" ", 1)[0]
        comments.append(comment)
    return comments
