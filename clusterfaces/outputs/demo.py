"""Building a demo library: labelled face crops composed into photos, with a labels.json of who is where."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from clusterfaces.errors import ClusterfacesError

FACE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@dataclass(frozen=True)
class DemoSettings:
    """How the demo photos are composed."""

    group_share: float = 0.3  # share of faces that appear in group photos of 2-4 people
    albums: int = 4
    seed: int = 7
    min_face: int = 110  # pasted face width in pixels, drawn between min and max
    max_face: int = 240
    per_identity: int | None = None  # use at most this many crops per identity


def labelled_faces(source: Path, per_identity: int | None = None) -> dict[str, list[Path]]:
    """Identity name -> face crop files, from a folder of identity sub-folders."""
    if not source.is_dir():
        raise ClusterfacesError(f"{source} is not a folder of identity sub-folders")
    identities = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FACE_EXTENSIONS)
        if files:
            identities[folder.name] = files[:per_identity] if per_identity else files
    if not identities:
        raise ClusterfacesError(f"{source} holds no identity sub-folders with face images")
    return identities


def build_demo_library(source: Path, destination: Path, settings: DemoSettings = DemoSettings()) -> dict:
    """Compose photos from labelled crops into destination/album-N/, write labels.json, return the labels.

    Each crop is pasted with a wide margin on a varied background (plain, gradient or noise), so a
    detector sees it in context; a share of the crops are grouped 2-4 to a photo.
    """
    rng = random.Random(settings.seed)
    faces = [(name, path) for name, paths in labelled_faces(source, settings.per_identity).items() for path in paths]
    rng.shuffle(faces)
    photos: list[list[tuple[str, Path]]] = []
    index = 0
    while index < len(faces):
        size = 1
        if rng.random() < settings.group_share:
            size = rng.randint(2, 4)
        group: list[tuple[str, Path]] = []
        while index < len(faces) and len(group) < size:
            if any(name == faces[index][0] for name, _ in group):
                break  # one person appears once per photo
            group.append(faces[index])
            index += 1
        photos.append(group)
    labels: dict = {"about": "Built by clusterfaces demo: relative path -> identities, and each face's box.",
                    "photos": {}, "faces": {}}
    for number, group in enumerate(photos, start=1):
        album = f"album-{(number % settings.albums) + 1:02d}"
        relative = f"{album}/photo-{number:04d}.jpg"
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        image, boxes = _compose(group, rng, settings)
        image.save(target, quality=92)
        labels["photos"][relative] = [name for name, _ in group]
        labels["faces"][relative] = [{"identity": name, "box": box} for (name, _), box in zip(group, boxes)]
    (destination / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    return labels


def _compose(group: list[tuple[str, Path]], rng: random.Random, settings: DemoSettings):
    sizes = [rng.randint(settings.min_face, settings.max_face) for _ in group]
    margin = max(sizes)
    width = sum(sizes) + margin * (len(group) + 1)
    height = max(sizes) + 2 * margin
    canvas = _background(width, height, rng)
    boxes = []
    x = margin
    for (_, path), size in zip(group, sizes):
        with Image.open(path) as face:
            face = face.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        y = margin + rng.randint(-margin // 3, margin // 3)
        canvas.paste(face, (x, y))
        boxes.append([x, y, size, size])
        x += size + margin
    return canvas, boxes


def _background(width: int, height: int, rng: random.Random) -> Image.Image:
    kind = rng.choice(("plain", "gradient", "noise"))
    colour = np.array([rng.randint(40, 220) for _ in range(3)], dtype=np.float32)
    if kind == "plain":
        pixels = np.broadcast_to(colour, (height, width, 3))
    elif kind == "gradient":
        other = np.array([rng.randint(40, 220) for _ in range(3)], dtype=np.float32)
        ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
        pixels = np.broadcast_to(colour * (1 - ramp) + other * ramp, (height, width, 3))
    else:
        noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 40, (height // 8 + 1, width // 8 + 1, 3))
        small = Image.fromarray(np.clip(colour + noise, 0, 255).astype(np.uint8))
        return small.resize((width, height), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(2))
    return Image.fromarray(np.ascontiguousarray(pixels).astype(np.uint8))


LFW_PEOPLE = 8
LFW_PER_PERSON = 15


def download_lfw_faces(destination: Path) -> Path:
    """Save a few people from scikit-learn's LFW download as identity sub-folders (needs internet)."""
    try:
        import warnings

        from sklearn.datasets import fetch_lfw_people

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its retry warnings; the error below says what happened
            lfw = fetch_lfw_people(min_faces_per_person=30, color=True, slice_=None, resize=1.0,
                                   data_home=str(destination / "scikit_learn_data"))
    except Exception as error:  # no internet, or the download site is down
        raise ClusterfacesError(
            "no face source: give --from DIR (a folder of identity sub-folders of face photos), or connect to "
            f"the internet so scikit-learn can download LFW ({' '.join(str(error).split())[:120]})"
        ) from None
    faces = destination / "lfw-faces"
    counts: dict[int, int] = {}
    for image, target in zip(lfw.images, lfw.target):
        if len(counts) >= LFW_PEOPLE and target not in counts or counts.get(target, 0) >= LFW_PER_PERSON:
            continue
        counts[target] = counts.get(target, 0) + 1
        folder = faces / str(lfw.target_names[target]).replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = image if image.max() > 1 else image * 255
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{counts[target]:03d}.png")
    return faces
