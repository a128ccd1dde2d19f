"""What a person looks like: a contact sheet of face crops as a JPEG, and a small preview for the terminal."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rich.color import Color
from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from clusterfaces.atomic import write_atomically
from clusterfaces.errors import OutputError
from clusterfaces.locations import data_home
from clusterfaces.outputs.crops import face_crops
from clusterfaces.store import Store

SHEET_FACES = 12
SHEET_COLUMNS = 6
TILE = 112  # pixels per face on the sheet
GAP = 4
BACKGROUND = (40, 40, 40)
PREVIEW_FACES = 4
PREVIEW_SIZE = 20  # pixels per side: 20 columns by 10 rows of half blocks per face


def sheets_folder() -> Path:
    return data_home() / "sheets"


def person_crops(store: Store, person_id: int, count: int = SHEET_FACES) -> list[tuple[int, Image.Image]]:
    """(face id, crop) for up to `count` of the person's faces, the most certain and largest first;
    faces whose photo cannot be read any more are left out."""
    faces = sorted(store.person_face_qualities(person_id), key=lambda face: (-face.score, -face.size, face.id))
    ids = [face.id for face in faces[:count]]
    boxes = store.face_boxes(ids)
    crops = dict(face_crops(((face, boxes[face].photo, boxes[face].box) for face in ids if face in boxes), size=TILE))
    return [(face, crops[face]) for face in ids if face in crops]


def contact_sheet(crops: Sequence[tuple[int, Image.Image]], columns: int = SHEET_COLUMNS) -> Image.Image:
    """The crops in a grid of TILE-pixel tiles, each labelled with its face id (for `faces not`/`move`)."""
    columns = max(1, min(columns, len(crops)))
    rows = max(1, math.ceil(len(crops) / columns))
    sheet = Image.new("RGB", (GAP + columns * (TILE + GAP), GAP + rows * (TILE + GAP)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (face_id, crop) in enumerate(crops):
        x, y = GAP + (index % columns) * (TILE + GAP), GAP + (index // columns) * (TILE + GAP)
        sheet.paste(crop.convert("RGB").resize((TILE, TILE)), (x, y))
        label = f"#{face_id}"
        box = draw.textbbox((x + 4, y + TILE - 15), label, font=font)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
        draw.text((x + 4, y + TILE - 15), label, fill=(255, 255, 255), font=font)
    return sheet


def write_contact_sheet(sheet: Image.Image, person_id: int, folder: Path | None = None) -> Path:
    """Save the sheet as <folder>/person-<id>.jpg, readable by its owner only (face crops are biometric)."""
    folder = folder or sheets_folder()
    target = folder / f"person-{person_id}.jpg"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        jpeg = io.BytesIO()
        sheet.save(jpeg, "JPEG", quality=85)
        write_atomically(target, jpeg.getvalue(), private=True, what=f"the contact sheet {target}")
    except OSError as error:
        raise OutputError(f"cannot write the contact sheet {target}: {error.strerror or error}") from None
    return target


class FacePreview:
    """A few faces drawn with half blocks: each character cell shows two pixels, `▀` in the top pixel's
    colour on the bottom pixel's. Renders nothing on a console without colour (a pipe, a file)."""

    def __init__(self, faces: Sequence[Image.Image], size: int = PREVIEW_SIZE, limit: int = PREVIEW_FACES) -> None:
        self.faces = list(faces)[:limit]
        self.size = size

    def _layout(self, width: int) -> tuple[int, int]:
        """(faces shown, pixels per side) that fit in `width` columns."""
        size = max(2, min(self.size, width) // 2 * 2)
        return max(1, min(len(self.faces), (width + 1) // (size + 1))), size

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        if not console.color_system or not self.faces:
            return
        count, size = self._layout(options.max_width)
        images = [np.asarray(face.convert("RGB").resize((size, size), Image.Resampling.LANCZOS))
                  for face in self.faces[:count]]
        for row in range(0, size, 2):
            for index, pixels in enumerate(images):
                if index:
                    yield Segment(" ")
                for top, bottom in zip(pixels[row], pixels[row + 1]):
                    yield Segment("▀", Style(color=Color.from_rgb(*map(int, top)),
                                             bgcolor=Color.from_rgb(*map(int, bottom))))
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        if not console.color_system or not self.faces:
            return Measurement(0, 0)
        count, size = self._layout(options.max_width)
        return Measurement(count * (size + 1) - 1, count * (size + 1) - 1)
