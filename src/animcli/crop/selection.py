"""Which faces of a picture to use: ``--faces`` (animate, crop) and ``--driving-face`` (animate).

The syntax: ``all``; ``largest``; face numbers ``N[,M…]`` counted from the left (0 = the leftmost face, as
``crop --face``); or ``@X,Y``, the face at pixel (X, Y) of the picture. A point carries an ``@`` because
``N,M`` (two face numbers) and ``X,Y`` (a point) would otherwise read alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from animcli.common.errors import AnimcliError
from animcli.crop.boxes import Box

_NUMBERS = re.compile(r"^\d+(,\d+)*$")
_POINT = re.compile(r"^@(-?\d+(?:\.\d*)?),(-?\d+(?:\.\d*)?)$")
SYNTAX = "all, largest, face numbers N[,M…] (0 = leftmost) or @X,Y (the face at that pixel)"


class FaceSelectionError(AnimcliError):
    """A selection that does not fit the faces found (a number past the last face, a point on no face)."""


@dataclass(frozen=True)
class FaceSelection:
    """A parsed ``--faces`` / ``--driving-face`` value; ``text`` is what the user wrote."""

    text: str
    kind: str  # "all", "largest", "numbers" or "point"
    numbers: tuple[int, ...] = ()
    point: tuple[float, float] | None = None
    option: str = "--faces"

    @property
    def single(self) -> bool:
        """Whether it always picks one face."""
        return self.kind in ("largest", "point") or (self.kind == "numbers" and len(self.numbers) == 1)

    def pick(self, boxes: list[Box], name: str = "the picture") -> list[tuple[int, Box]]:
        """The chosen faces as (number from the left, box), left to right; raises ``FaceSelectionError`` when the
        selection does not fit (e.g. face 5 of a photo with two)."""
        numbered = list(enumerate(sorted(boxes, key=lambda box: box.left)))
        if self.kind == "all":
            return numbered
        if self.kind == "largest":
            return [max(numbered, key=lambda item: item[1].area)] if numbered else []
        if self.kind == "numbers":
            missing = [number for number in self.numbers if number >= len(numbered)]
            if missing:
                raise FaceSelectionError(f"{self.option} {self.text}: {name} has {_count(len(numbered))}"
                                         f"{_numbering(len(numbered))}")
            return [numbered[number] for number in sorted(set(self.numbers))]
        found = self._at_point(numbered)
        if found is None:
            x, y = self.point
            raise FaceSelectionError(f"{self.option} {self.text}: no face of {name} covers pixel {x:g},{y:g} "
                                     f"({_count(len(numbered))}{_listing(numbered)})")
        return [found]

    def select(self, boxes: list[Box]) -> list[Box]:
        """Like ``pick`` without raising (a video frame where the chosen face is missing gives [])."""
        try:
            return [box for _, box in self.pick(boxes)]
        except FaceSelectionError:
            return []

    def _at_point(self, numbered: list[tuple[int, Box]]) -> tuple[int, Box] | None:
        x, y = self.point
        covering = [item for item in numbered
                    if item[1].left <= x <= item[1].right and item[1].top <= y <= item[1].bottom]
        if not covering:
            return None

        def distance(item: tuple[int, Box]) -> float:
            box = item[1]
            return ((box.left + box.right) / 2 - x) ** 2 + ((box.top + box.bottom) / 2 - y) ** 2

        return min(covering, key=distance)


def parse_faces(text: str, option: str = "--faces") -> FaceSelection:
    """``all``, ``largest``, ``N[,M…]`` or ``@X,Y``; raises a one-line error naming the syntax otherwise."""
    value = text.strip().replace(" ", "")
    if value in ("all", "largest"):
        return FaceSelection(value, value, option=option)
    if _NUMBERS.match(value):
        return FaceSelection(value, "numbers", tuple(int(part) for part in value.split(",")), option=option)
    point = _POINT.match(value)
    if point:
        return FaceSelection(value, "point", point=(float(point.group(1)), float(point.group(2))), option=option)
    raise AnimcliError(f"{option} takes {SYNTAX}; got {text!r}")


def _count(count: int) -> str:
    return "no face" if count == 0 else "1 face" if count == 1 else f"{count} faces"


def _numbering(count: int) -> str:
    if count == 0:
        return ""
    if count == 1:
        return " (number 0)"
    return f" (numbers 0-{count - 1}, from the left)"


def _listing(numbered: list[tuple[int, Box]]) -> str:
    if not numbered:
        return ""
    shown = ", ".join(f"{number} at {round((box.left + box.right) / 2)},{round((box.top + box.bottom) / 2)}"
                      for number, box in numbered)
    return f": {shown}"
