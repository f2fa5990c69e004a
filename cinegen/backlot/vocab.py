"""The backlot's closed vocabulary: shapes, colours, motions, settings, cameras, relations.

Everything the world can render, caption, parse and grade is named here once. Colours carry their
base RGB (the renderer varies the shade a little per clip); settings and motions are plain names.
"""

from __future__ import annotations

from typing import Final

SHAPES: Final = ("ball", "box", "triangle", "star")

# Base sRGB of each colour; hues are far apart so the oracle can name them from pixels.
COLORS: Final[dict[str, tuple[int, int, int]]] = {
    "red": (215, 38, 38),
    "orange": (245, 135, 25),
    "yellow": (240, 215, 35),
    "green": (40, 185, 70),
    "blue": (40, 85, 225),
    "purple": (145, 55, 205),
    "white": (242, 242, 242),
}

# left/right/up/down: constant velocity; fall: gravity with lossy bounces on the ground;
# bounce: continuous bouncing; still: stays put; grow/shrink: size changes over the clip.
MOTIONS: Final = ("left", "right", "up", "down", "fall", "bounce", "still", "grow", "shrink")

SETTINGS: Final = ("black", "studio", "sky", "grass", "night", "sunset")

CAMERAS: Final = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")

# Spatial relation of object A to object B at the start of the clip.
RELATIONS: Final = ("left_of", "right_of", "above", "below")

MAX_OBJECTS: Final = 3
MAX_SECONDS: Final = 60.0

# World constants. One world unit is the frame height at zoom 1; y grows downwards.
GRAVITY: Final = 1.6  # world units / s^2
GROUND_Y: Final = 0.86  # where objects rest and bounce
RESTITUTION: Final = 0.62  # fraction of speed kept by a falling object at each bounce
