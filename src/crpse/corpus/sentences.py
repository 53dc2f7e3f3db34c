"""English sentences for the TTS voices, built combinatorially from small word lists.

The list is deterministic (no randomness, no files): :func:`sentence_bank` always returns the same
sentences in the same order, so a corpus seed fully determines which text each file speaks.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

_SUBJECTS = (
    "The old fisherman", "My younger sister", "A tired nurse", "The new teacher", "Our neighbour",
    "The small boy", "A quiet student", "The bus driver", "Her grandfather", "The baker",
    "A young doctor", "The tall gardener", "His best friend", "The pilot", "A curious child",
    "The farmer", "The night guard", "Your uncle", "The painter", "A busy waiter",
)
_VERBS = (
    "carried", "painted", "found", "repaired", "opened", "cleaned", "sold", "borrowed",
    "forgot", "bought", "hid", "wrapped", "dropped", "packed", "counted", "noticed",
)
_OBJECTS = (
    "a wooden box", "the red umbrella", "seven green apples", "an empty bottle", "the broken clock",
    "a heavy suitcase", "the blue bicycle", "two paper lanterns", "a basket of eggs", "the silver key",
    "a warm blanket", "the map of the city", "an old guitar", "three loaves of bread", "the garden gate",
)
_PLACES = (
    "near the harbour", "before breakfast", "in the morning rain", "after the long meeting",
    "behind the station", "during the storm", "at the edge of the forest", "on a cold winter night",
    "next to the library", "while the kettle boiled", "in the crowded market", "before the train left",
)
_QUESTIONS = (
    "Did you remember to lock the {thing} before you left?",
    "Where did we put the {thing} after dinner?",
    "Could you bring the {thing} to the kitchen, please?",
    "Have you seen the {thing} anywhere today?",
    "Why is the {thing} still lying on the floor?",
)
_THINGS = (
    "front door", "spare tyre", "photo album", "winter coat", "yellow folder", "coffee grinder",
    "garden hose", "reading lamp", "tool chest", "birthday card", "fishing rod", "alarm clock",
)
_NUMBERS = (
    "The meeting starts at {h} {m} on {day}, in room {room}.",
    "Please call me back at {h} {m}; my extension is {room}.",
    "Flight {room} to the coast leaves at {h} {m} on {day}.",
)
_HOURS = ("seven", "eight", "nine", "ten", "eleven", "twelve", "two", "four")
_MINUTES = ("o'clock", "fifteen", "thirty", "forty five")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_ROOMS = ("twelve", "two hundred", "forty one", "nine", "three thousand", "eighty six")
_STATEMENTS = (
    "The weather was calm, so we walked along the river for an hour.",
    "Nobody expected the concert to end so early.",
    "If the bridge is closed, take the road through the valley.",
    "She wrote the numbers on a napkin and handed it to me.",
    "The soup needs a little more salt and some fresh pepper.",
    "We heard thunder in the distance and hurried home.",
    "Keep the receipt in case the shoes do not fit.",
    "The children laughed when the dog chased its own tail.",
    "A strong wind blew the leaves across the empty square.",
    "He read the letter twice before he put it away.",
    "The museum is free on the first Sunday of every month.",
    "Turn left at the bakery and the hotel is on your right.",
    "The printer on the second floor is out of paper again.",
    "Most of the passengers slept during the night crossing.",
    "Bright lights flickered above the quiet parking lot.",
    "Her voice was calm, but her hands were shaking.",
)


@lru_cache(maxsize=1)
def sentence_bank() -> tuple[str, ...]:
    """Return the fixed bank of varied English sentences (about 700 of them).

    Returns:
        Sentences in a fixed order; each ends with punctuation and contains only ASCII characters.
    """
    sentences: list[str] = []
    # Subject-verb-object-place sentences: every slot moves with its own stride, so that
    # consecutive sentences differ in every slot instead of only in the last one.
    for k in range(480):
        subject = _SUBJECTS[k % len(_SUBJECTS)]
        verb = _VERBS[(3 * k + k // len(_VERBS)) % len(_VERBS)]
        obj = _OBJECTS[(7 * k + k // len(_OBJECTS)) % len(_OBJECTS)]
        place = _PLACES[(5 * k + k // len(_PLACES)) % len(_PLACES)]
        sentences.append(f"{subject} {verb} {obj} {place}.")
    for q, thing in itertools.product(_QUESTIONS, _THINGS):
        sentences.append(q.format(thing=thing))
    for k, template in enumerate(_NUMBERS * 40):
        sentences.append(template.format(h=_HOURS[k % len(_HOURS)], m=_MINUTES[(k // 3) % len(_MINUTES)],
                                         day=_DAYS[(k // 2) % len(_DAYS)], room=_ROOMS[(k // 5) % len(_ROOMS)]))
    sentences.extend(_STATEMENTS)
    # Drop exact duplicates while keeping the order.
    return tuple(dict.fromkeys(sentences))
