"""Varied English sentences for the synthetic talking corpus, from a seeded template grammar.

The grammar writes short declarative sentences in the spirit of the Harvard sentence lists
("The birch canoe slid on the smooth planks."), with clauses joined by commas so the voices
pause, plus a few questions and exclamations. The vocabulary (several hundred words) covers
every phoneme of the common set (:mod:`diface_editor.synth.phonemes`), including rare ones
(ZH as in "measure", OY as in "boy", UH as in "book").

Sentences are assigned to a corpus split by a hash of their text (:func:`sentence_split`), so a
sentence can never land in two splits whatever order they are drawn in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------ vocabulary
NOUNS = (
    "canoe", "plank", "box", "chicken", "garden", "window", "river", "mountain", "kettle", "letter",
    "basket", "bridge", "candle", "carpet", "castle", "cherry", "cloud", "coat", "coin", "cottage",
    "dinner", "doctor", "dog", "dragon", "drum", "engine", "farmer", "feather", "fence", "field",
    "fish", "flag", "flower", "forest", "fox", "friend", "garage", "ghost", "glove", "goat",
    "hammer", "harbor", "hat", "horse", "island", "jacket", "jelly", "judge", "kitchen", "kitten",
    "ladder", "lamp", "lemon", "library", "lion", "map", "market", "meadow", "mirror", "monkey",
    "moon", "mouse", "music", "needle", "nephew", "ocean", "orange", "owl", "painter", "palace",
    "parrot", "pencil", "pepper", "piano", "pillow", "pilot", "pirate", "planet", "pocket", "pony",
    "potato", "puddle", "puppy", "queen", "rabbit", "radio", "ribbon", "robot", "rocket", "sailor",
    "sandwich", "school", "shadow", "sheep", "shoe", "singer", "sister", "soldier", "spoon", "star",
    "stone", "storm", "street", "sugar", "summer", "teacher", "ticket", "tiger", "toy", "tractor",
    "treasure", "tree", "truck", "tunnel", "turtle", "umbrella", "valley", "village", "violin",
    "wagon", "wall", "whale", "wheel", "wizard", "wolf", "woman", "yard", "zebra", "boy", "oyster",
    "measure", "vision", "television", "beige rug", "book", "cook", "wood", "sugar bowl", "thumb",
    "thread", "path", "mouth", "father", "mother", "brother", "weather", "leather", "booth",
    "joy", "noise", "voice", "choice", "point", "toilet", "cowboy", "royal guest", "pearl", "bird",
    "nurse", "church", "shirt", "girl", "word", "world", "journey", "yellow car", "young man",
    "player", "cake", "rain", "train", "snake", "paper", "table", "lake", "bike", "kite", "night",
    "light", "clown", "crown", "house", "cow", "boat", "road", "rose", "phone", "bone", "blue pool",
    "food", "moose", "juice", "fruit", "cup", "duck", "bus", "sun", "bug", "cat", "hand", "apple",
    "bag", "egg", "bed", "bread", "head", "pen", "ship", "fig", "gift", "milk", "hill", "key",
    "tea", "bee", "leaf", "cheese", "dog bowl", "sock", "pot", "frog", "clock", "ball", "hawk",
    "saw", "fork", "horn", "storm door", "chair", "bear", "pear", "ear", "deer", "beard", "tire",
    "fire", "hour", "flour", "tower", "shower", "camera", "guitar", "banana", "tomato", "vinegar",
)
NAMES = (
    "Anna", "Ben", "Charlotte", "David", "Eva", "Frank", "George", "Hannah", "Isaac", "Julia",
    "Kevin", "Laura", "Martin", "Nora", "Oliver", "Paula", "Quentin", "Rosa", "Simon", "Thomas",
    "Uma", "Victor", "Wendy", "Xavier", "Yusuf", "Zoe", "Joseph", "Ruth", "Theodore", "Judith",
)
ADJECTIVES = (
    "smooth", "old", "young", "little", "big", "tiny", "huge", "heavy", "light", "bright", "dark",
    "quiet", "loud", "soft", "hard", "warm", "cold", "hot", "cool", "wet", "dry", "clean", "dirty",
    "fresh", "stale", "sweet", "bitter", "sour", "salty", "green", "red", "blue", "yellow", "brown",
    "purple", "golden", "silver", "wooden", "broken", "empty", "full", "busy", "lazy", "happy",
    "sad", "angry", "calm", "brave", "shy", "proud", "clever", "gentle", "strange", "famous",
    "ancient", "modern", "rough", "sharp", "thick", "thin", "narrow", "wide", "deep", "shallow",
    "round", "square", "crooked", "shiny", "dusty", "muddy", "sandy", "frozen", "foggy", "windy",
    "sunny", "noisy", "lovely", "pleasant", "usual", "casual", "visual", "choosy", "joyful",
    "thoughtful", "youthful", "awkward", "boyish", "northern", "southern", "curious", "hungry",
    "thirsty", "sleepy", "tired", "early", "late", "rare", "plain", "fancy", "cheap", "valuable",
)
VERBS_T = (  # transitive, past tense
    "found", "lost", "carried", "pushed", "pulled", "painted", "washed", "dropped", "lifted",
    "opened", "closed", "fixed", "broke", "bought", "sold", "stole", "hid", "chased", "caught",
    "threw", "kicked", "watched", "heard", "touched", "moved", "cleaned", "filled", "emptied",
    "built", "burned", "cooked", "baked", "tasted", "smelled", "measured", "polished", "packed",
    "wrapped", "shook", "brushed", "checked", "counted", "borrowed", "returned", "followed",
    "thanked", "greeted", "visited", "joined", "enjoyed", "avoided", "spoiled", "pointed at",
    "dragged", "hugged", "ignored", "praised", "rescued", "buried", "loaded", "sharpened",
)
VERBS_I = (  # intransitive, past tense
    "slept", "laughed", "smiled", "waited", "jumped", "danced", "sang", "shouted", "whispered",
    "shivered", "stumbled", "vanished", "appeared", "arrived", "departed", "rested", "worked",
    "played", "swam", "floated", "sank", "glowed", "trembled", "yawned", "sneezed", "coughed",
    "paused", "wandered", "hurried", "listened", "nodded", "frowned", "cried", "sighed", "drifted",
)
ADVERBS = (
    "slowly", "quickly", "quietly", "loudly", "gently", "suddenly", "happily", "sadly", "calmly",
    "carefully", "badly", "early", "late", "again", "twice", "together", "alone", "at once",
    "all day", "all night", "every morning", "last week", "yesterday", "today", "once more",
)
PREPOSITIONS = (
    "on", "under", "behind", "beside", "near", "across", "through", "over", "into", "onto",
    "around", "past", "along", "toward", "inside", "outside", "against", "beneath", "above",
)
SUBORDINATORS = (
    "When", "After", "Before", "While", "Because", "Although", "As soon as", "Since", "Once", "Until",
)
CONJUNCTIONS = ("and", "but", "so", "yet", "or")
OPENERS = ("Oh", "Well", "Look", "Listen", "Yes", "No", "Honestly", "Of course", "By the way", "Sadly")
MODALS = ("will", "can", "should", "might", "must", "could", "would")
VERBS_BASE = (
    "find", "carry", "paint", "wash", "open", "fix", "buy", "catch", "watch", "move", "clean",
    "build", "cook", "bake", "taste", "measure", "polish", "pack", "wrap", "check", "borrow",
    "follow", "visit", "join", "enjoy", "avoid", "hug", "rescue", "load", "push", "pull", "lift",
)
DETS = ("the", "the", "the", "a", "my", "your", "her", "his", "our", "their", "this", "that", "every")


def _pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _noun_phrase(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.12:
        return _pick(rng, NAMES)
    noun = _pick(rng, NOUNS)
    if rng.random() < 0.55:
        noun = f"{_pick(rng, ADJECTIVES)} {noun}"
        if rng.random() < 0.15:
            noun = f"{_pick(rng, ADJECTIVES)}, {noun}"
    det = _pick(rng, DETS)
    if det == "a":
        det = _article(noun)
    return f"{det} {noun}"


def _clause(rng: np.random.Generator) -> str:
    subj = _noun_phrase(rng)
    r = rng.random()
    if r < 0.45:
        vp = f"{_pick(rng, VERBS_T)} {_noun_phrase(rng)}"
        if rng.random() < 0.5:
            vp += f" {_pick(rng, PREPOSITIONS)} {_noun_phrase(rng)}"
    elif r < 0.7:
        vp = _pick(rng, VERBS_I)
        if rng.random() < 0.6:
            vp += f" {_pick(rng, PREPOSITIONS)} {_noun_phrase(rng)}"
    elif r < 0.85:
        vp = f"{_pick(rng, MODALS)} {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)}"
    else:
        vp = f"{_pick(rng, ('was', 'seemed', 'looked', 'felt'))} {_pick(rng, ADJECTIVES)}"
    if rng.random() < 0.3:
        vp += f" {_pick(rng, ADVERBS)}"
    return f"{subj} {vp}"


def _capitalise(s: str) -> str:
    return s[:1].upper() + s[1:]


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence (with its final punctuation) drawn from the grammar."""
    r = rng.random()
    if r < 0.42:
        s = _clause(rng) + "."
    elif r < 0.62:
        s = f"{_pick(rng, SUBORDINATORS)} {_clause(rng)}, {_clause(rng)}."
    elif r < 0.8:
        s = f"{_clause(rng)}, {_pick(rng, CONJUNCTIONS)} {_clause(rng)}."
    elif r < 0.9:
        s = f"{_pick(rng, OPENERS)}, {_clause(rng)}{_pick(rng, ('.', '!'))}"
    else:
        aux = _pick(rng, ("Did", "Will", "Can", "Could", "Should"))
        s = f"{aux} {_noun_phrase(rng)} {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)}?"
    return _capitalise(s)


def sentence_split(sentence: str, fractions: tuple[float, float] = (0.1, 0.1)) -> str:
    """The split ("train", "val" or "test") of a sentence, from a hash of its normalised text.

    ``fractions`` are the (val, test) shares of the sentence space.
    """
    key = " ".join(sentence.lower().split()).encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "little") / 2.0**64
    val, test = fractions
    if u < test:
        return "test"
    if u < test + val:
        return "val"
    return "train"


@dataclass
class SentenceSource:
    """Draws unique sentences for each split from one seeded stream (reproducible per seed)."""

    seed: int
    fractions: tuple[float, float] = (0.1, 0.1)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), 0x7E47]))
        self._seen: set[str] = set()
        self._queues: dict[str, list[str]] = {"train": [], "val": [], "test": []}

    def next(self, split: str) -> str:
        """The next unused sentence belonging to ``split``."""
        q = self._queues[split]
        while not q:
            s = make_sentence(self._rng)
            if s in self._seen:
                continue
            self._seen.add(s)
            self._queues[sentence_split(s, self.fractions)].append(s)
        return q.pop(0)

    def utterance(self, split: str, n_sentences: int) -> list[str]:
        """``n_sentences`` fresh sentences of ``split``."""
        return [self.next(split) for _ in range(n_sentences)]


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters and apostrophes), for transcripts and alignment."""
    out, cur = [], []
    for ch in text.lower():
        if ch.isalpha() or ch == "'":
            cur.append(ch)
        else:
            if cur:
                out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return [w.strip("'") for w in out if w.strip("'")]
