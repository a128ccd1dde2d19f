"""Face thumbnails cut from the original photos, each photo decoded once, at bounded size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

from clusterfaces.errors import UnreadableImage
from clusterfaces.images import decode_image

# Decode bound for cutting thumbnails: faces stay sharp at thumbnail size, big photos stay cheap.
CROP_DECODE_SIDE = 2048


def _decode_side(photo: Path, boxes: list[tuple[int, tuple[int, int, int, int]]], size: int,
                 padding: float) -> int:
    """The longest side to decode the photo at: big enough that its smallest face still fills a `size`-pixel
    tile, never more than CROP_DECODE_SIDE. A big JPEG then decodes at a fraction of its size (libjpeg draft),
    which is most of the time a thumbnail takes."""
    try:
        with Image.open(photo) as image:  # reads the header only
            longest = max(image.size)
    except (OSError, ValueError, Image.DecompressionBombError):
        return CROP_DECODE_SIDE  # decode_image gives the reason
    smallest = min(max(w, h) for _, (_, _, w, h) in boxes) * (1 + 2 * padding)
    wanted = math.ceil(longest * 1.25 * size / max(smallest, 1.0))
    return max(min(wanted, CROP_DECODE_SIDE, longest), min(size, longest))


def face_crops(
    faces: Iterable[tuple[int, Path, tuple[int, int, int, int]]], size: int = 112, padding: float = 0.2
) -> Iterator[tuple[int, Image.Image]]:
    """(face id, square RGB thumbnail) for each (face id, photo, box in original pixels).

    Faces of the same photo share one decode; photos that can no longer be read are skipped.
    """
    by_photo: dict[Path, list[tuple[int, tuple[int, int, int, int]]]] = {}
    for face_id, photo, box in faces:
        by_photo.setdefault(photo, []).append((face_id, box))
    for photo, boxes in by_photo.items():
        try:
            decoded = decode_image(photo, _decode_side(photo, boxes, size, padding))
        except UnreadableImage:
            continue
        image = Image.fromarray(decoded.pixels)
        scale_x, scale_y = decoded.scale
        for face_id, (x, y, w, h) in boxes:
            side = max(w, h) * (1 + 2 * padding)
            centre_x, centre_y = x + w / 2, y + h / 2
            left, top = (centre_x - side / 2) / scale_x, (centre_y - side / 2) / scale_y
            right, bottom = (centre_x + side / 2) / scale_x, (centre_y + side / 2) / scale_y
            crop = image.crop((round(left), round(top), round(right), round(bottom)))  # pads outside with black
            yield face_id, crop.resize((size, size), Image.Resampling.LANCZOS)
