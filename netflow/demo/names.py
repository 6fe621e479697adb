"""Made-up personal names and hospital.example addresses, built from syllables.

Names combine a head and a tail syllable, so they read like names without being taken from
any list of real people; a few surnames carry an apostrophe or a hyphen, the way real ones
do, to exercise escaping downstream.
"""

from __future__ import annotations

from random import Random

from netflow.demo.draw import one_of

__all__ = ["email_local_part", "person_name"]

_FIRST_HEADS = (
    "Al", "Bren", "Cal", "Dar", "El", "Fen", "Gar", "Hal", "Is", "Jor", "Kel", "Lor", "Mar", "Nor",
    "Or", "Per", "Quin", "Ros", "Sel", "Tam", "Ul", "Vin", "Wen", "Yar", "Zel", "Ad", "Bel", "Cor",
    "Del", "Em", "Fa", "Gil", "Hen", "Ir", "Jas", "Kar", "Len", "Mil", "Nel", "Os", "Ra", "Sa",
    "Te", "Va", "Li", "Mo", "Na", "Ta",
)
_FIRST_TAILS = (
    "a", "an", "ena", "eth", "ia", "ic", "in", "ina", "io", "is", "on", "or", "ora", "us", "ette",
    "iel", "ard", "wyn", "ley", "o", "ie", "ara", "elle", "ian",
)
_SURNAME_HEADS = (
    "Ash", "Black", "Brook", "Cald", "Dun", "Elm", "Fair", "Glen", "Hart", "Holl", "Kings", "Lang",
    "Marsh", "North", "Oak", "Pen", "Red", "Stan", "Thorn", "Wake", "West", "Whit", "Wood", "Bram",
    "Car", "Dal", "Fen", "Har", "Lind", "Mor", "Ros", "Sel", "Tal", "Ver", "Kov", "Nak", "Ber",
    "Mend", "Sant", "Ferr",
)
_SURNAME_TAILS = (
    "by", "dale", "don", "field", "ford", "gate", "ham", "hurst", "ley", "low", "more", "ridge",
    "ton", "well", "wick", "wood", "ing", "er", "sen", "ova", "ez", "elli", "ski", "berg", "stein",
    "oux", "ura", "ano", "ami", "eda",
)


def _surname(rng: Random) -> str:
    base = one_of(rng, _SURNAME_HEADS) + one_of(rng, _SURNAME_TAILS)
    roll = rng.random()
    if roll < 0.02:
        return "O'" + base
    if roll < 0.05:
        return base + "-" + one_of(rng, _SURNAME_HEADS) + one_of(rng, _SURNAME_TAILS)
    return base


def person_name(rng: Random) -> tuple[str, str]:
    """(first name, surname), e.g. ('Brenna', 'Ashford')."""
    return one_of(rng, _FIRST_HEADS) + one_of(rng, _FIRST_TAILS), _surname(rng)


def email_local_part(first: str, last: str) -> str:
    """'first.last' in lower case, letters only: ("Kel", "O'Hart-Wood") -> 'kel.ohartwood'."""
    return f"{_letters(first)}.{_letters(last)}"


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalpha())
