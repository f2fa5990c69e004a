"""The generation modes, named once. Every layer (the CLI's flags, the API's `mode` field, the job
spec, the workers, moderation's consent uses, the manifest) uses this enumeration.

A door decides the mode once: the CLI from its flags (`Mode.from_flags`), the service from the
request (its `mode` field, else inferred at the edge). `cinegen.generate` turns the mode and its
inputs into a pipeline call and records the mode in the manifest; the pipeline itself only
refuses two mode inputs at once.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    TEXT = "text"  # prompt only
    IMAGE = "image"  # animate an image as frame 0
    KEYFRAMES = "keyframes"  # pin images at times
    EXTEND = "extend"  # continue a video (forward or backward)
    CONNECT = "connect"  # a transition from one video's end to another's start
    LOOP = "loop"  # a clip whose last frame flows into its first
    EDIT = "edit"  # video-to-video (SDEdit)
    REMIX = "remix"  # an edit of one of the service's videos under a new prompt, at its seed
    SCHEDULE = "schedule"  # prompts that change at given times
    STILL = "still"  # one frame

    @property
    def source_videos(self) -> tuple[int, int | None]:
        """(fewest, most) source videos the mode takes (None: any number)."""
        return _SOURCES.get(self, (0, 0))

    @property
    def consent_use(self) -> str:
        """The consent use (trust.consent.USES) a performer's grant must cover for this mode."""
        return _CONSENT_USE[self]

    @classmethod
    def from_flags(cls, *, image: bool = False, keyframes: bool = False, extend: bool = False,
                   connect: bool = False,
                   edit: bool = False, schedule: bool = False, loop: bool = False,
                   still: bool = False) -> Mode:
        """The mode a set of CLI inputs asks for; a ValueError for two that exclude each other."""
        exclusive = [name for name, given in (("extend", extend), ("connect", connect), ("edit", edit),
                                              ("schedule", schedule), ("loop", loop)) if given]
        if len(exclusive) > 1:
            raise ValueError(f"choose one mode, got {', '.join(exclusive)}")
        if still:
            return cls.STILL
        if loop:
            return cls.LOOP
        for mode, given in ((cls.EXTEND, extend), (cls.CONNECT, connect), (cls.EDIT, edit),
                            (cls.SCHEDULE, schedule), (cls.IMAGE, image), (cls.KEYFRAMES, keyframes)):
            if given:
                return mode
        return cls.TEXT


_SOURCES: dict[Mode, tuple[int, int | None]] = {
    Mode.EXTEND: (1, 1), Mode.CONNECT: (2, 2), Mode.EDIT: (1, 1), Mode.REMIX: (1, 1),
    Mode.KEYFRAMES: (0, None), Mode.LOOP: (0, None),
}
_CONSENT_USE = {
    Mode.TEXT: "text-to-video", Mode.SCHEDULE: "text-to-video", Mode.STILL: "text-to-video",
    Mode.IMAGE: "image-to-video", Mode.KEYFRAMES: "image-to-video",
    Mode.EXTEND: "extend", Mode.REMIX: "remix",
    Mode.EDIT: "video-to-video", Mode.CONNECT: "video-to-video", Mode.LOOP: "video-to-video",
}
# What the job service offers (schedules and stills are CLI-only for now).
SERVICE_MODES: tuple[Mode, ...] = (Mode.TEXT, Mode.IMAGE, Mode.EXTEND, Mode.CONNECT, Mode.LOOP, Mode.EDIT,
                                   Mode.KEYFRAMES, Mode.REMIX)
