"""The two ways driving motion is transferred onto the source, named once for models, registry and CLI.

relative: apply the driving video's motion *relative to its first frame* to the source's own pose.
absolute: impose the driving frame's pose as it is.
"""

from __future__ import annotations

from typing import Literal, get_args

TransferMode = Literal["relative", "absolute"]
TRANSFER_MODES: tuple[str, ...] = get_args(TransferMode)
