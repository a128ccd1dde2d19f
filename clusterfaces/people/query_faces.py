"""Faces of a photo that is not in the library, detected and embedded as the library's scans do (never stored)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clusterfaces.errors import ClusterfacesError
from clusterfaces.scan.faces import l2_normalise

if TYPE_CHECKING:
    from clusterfaces.people.search import SearchLibrary


@dataclass
class QueryFace:
    """A face found in a query photo, embedded with the library's model (never stored)."""

    photo: Path
    number: int  # 1-based, left to right
    box: tuple[int, int, int, int]
    score: float
    vector: np.ndarray  # unit length


class QueryEmbedder:
    """The library's detector and model, as a scan uses them, for photos that are not added to it."""

    def __init__(self, library: SearchLibrary, allow_download: bool = True) -> None:
        self.library = library
        self.allow_download = allow_download
        self._detector = None
        self._embedder = None

    def faces(self, photo: Path) -> list[QueryFace]:
        """Every face in the photo, left to right. Raises a one-line error for a file that is not a photo."""
        from clusterfaces.errors import UnreadableImage
        from clusterfaces.images import decode_image
        from clusterfaces.scan.faces import FaceDetector, load_embedder

        photo = Path(photo)
        if not photo.exists():
            raise ClusterfacesError(f"{photo}: no such file")
        if not photo.is_file():
            raise ClusterfacesError(f"{photo} is not a file (give a photo)")
        try:
            image = decode_image(photo, self.library.max_side)
        except UnreadableImage as error:
            raise ClusterfacesError(f"{photo} cannot be read: {error}") from None
        if self._detector is None:
            self._detector = FaceDetector(self.library.detector, self.library.model, self.allow_download)
            self._embedder, _ = load_embedder(self.library.model, True, self.allow_download)
            self._embedder.mirrored = self.library.mirrored
        detected = sorted(self._detector.detect_faces(image), key=lambda face: (face.box[0], face.box[1]))
        if not detected:
            return []
        vectors = l2_normalise(self._embedder.embed_faces([face.crop for face in detected]))
        return [QueryFace(photo, number, face.box, face.score, vectors[number - 1].astype(np.float32))
                for number, face in enumerate(detected, start=1)]

    def one_face(self, photo: Path, number: int | None = None) -> tuple[QueryFace, str | None]:
        """The face a query means: the only one, the numbered one, or the largest (with a note saying so)."""
        faces = self.faces(photo)
        if not faces:
            raise ClusterfacesError(f"no face found in {photo}")
        if number is not None:
            if not 1 <= number <= len(faces):
                raise ClusterfacesError(f"{photo} has {len(faces)} face{'s' if len(faces) > 1 else ''}: "
                                        f"face {number} does not exist (faces are numbered left to right)")
            return faces[number - 1], None
        if len(faces) == 1:
            return faces[0], None
        largest = max(faces, key=lambda face: face.box[2] * face.box[3])
        return largest, (f"{photo} has {len(faces)} faces: used face {largest.number}, the largest (numbered left to "
                         "right as `who` lists them; `find --which N` or a face id chooses another)")
