"""Face thumbnails cut from the original photos, each photo decoded once, at bounded size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

from clusterfaces.errors import UnreadableImage
from clusterfaces.images import decode_image

# Decode bound for cutting thumbnails: faces stay sharp at thumbnail size, big photos stay cheap.
CROP_DECODE_SIDE = 2048


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
            decoded = decode_image(photo, CROP_DECODE_SIDE)
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
