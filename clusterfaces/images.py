"""Decoding photos into upright RGB pixels of bounded size, with a clear reason when that fails."""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from clusterfaces.errors import UnreadableImage

try:  # HEIC/HEIF (iPhone photos) are optional: pillow-heif registers an opener with Pillow.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF_SUPPORTED = False

# Longest side, in pixels, of the image the detector sees. Chosen by benchmarks/detectors.py:
# see the README's "Detection" section for the numbers behind it.
DEFAULT_MAX_SIDE = 1600
# The filter that brings a photo (after JPEG draft decoding) down to max_side: Lanczos for what people see
# (face crops), bilinear for the detector in a scan, antialiased over the whole reduction, which finds the
# same faces at a third of the cost (README "Performance").
RESAMPLE = Image.Resampling.LANCZOS
DETECTION_RESAMPLE = Image.Resampling.BILINEAR

# Pillow refuses images above twice this many pixels (DecompressionBombError). 100 MP photos from
# modern cameras stay below the refusal limit; JPEGs that large are decoded at reduced size anyway.
MAX_IMAGE_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


@dataclass(frozen=True)
class DecodedImage:
    """Upright RGB pixels for detection, and how they map back to the full-size upright photo."""

    pixels: np.ndarray  # (height, width, 3) uint8 RGB, C-contiguous
    original_size: tuple[int, int]  # (width, height) of the upright photo at full resolution
    format: str

    @property
    def scale(self) -> tuple[float, float]:
        """Factors that turn pixel coordinates into original-image coordinates (x, y)."""
        height, width = self.pixels.shape[:2]
        return self.original_size[0] / width, self.original_size[1] / height


def decode_image(path: Path | str, max_side: int | None = DEFAULT_MAX_SIDE,
                 resample: Image.Resampling = RESAMPLE) -> DecodedImage:
    """Decode a photo upright (EXIF orientation applied) as RGB, longest side at most max_side.

    Raises UnreadableImage with a one-line reason for anything that is not a decodable photo.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _decode_opened(image, max_side, resample)
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as error:
        raise UnreadableImage(f"refused: too many pixels, a possible decompression bomb ({error})") from None
    except UnidentifiedImageError:
        raise UnreadableImage(_unidentified_reason(path)) from None
    except PermissionError:
        raise UnreadableImage("permission denied") from None
    except FileNotFoundError:
        raise UnreadableImage("file disappeared before it could be read") from None
    except MemoryError:
        raise UnreadableImage("not enough memory to decode this image") from None
    except OSError as error:
        if error.errno == errno.EACCES:
            raise UnreadableImage("permission denied") from None
        raise UnreadableImage(f"corrupt or truncated image: {_one_line(error)}") from None
    except (ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as error:
        # Pillow's plugins raise these for malformed headers and chunks.
        raise UnreadableImage(f"corrupt image: {_one_line(error)}") from None


def _decode_opened(image: Image.Image, max_side: int | None, resample: Image.Resampling) -> DecodedImage:
    image_format = image.format or "unknown"
    width, height = image.size
    if width < 1 or height < 1:
        raise UnreadableImage("image has no pixels")
    orientation = image.getexif().get(0x0112, 1)
    transposed = orientation in (5, 6, 7, 8)
    original_size = (height, width) if transposed else (width, height)

    if max_side and image_format == "JPEG" and max(width, height) > max_side:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: much faster and far less memory.
        ratio = max_side / max(width, height)
        image.draft("RGB", (max(1, int(width * ratio)), max(1, int(height * ratio))))

    image.load()
    image = ImageOps.exif_transpose(image) or image
    image = _to_rgb(image)
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), resample, reducing_gap=2.0)
    pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return DecodedImage(pixels=pixels, original_size=original_size, format=image_format)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: transparency over white, 16-bit scaled, CMYK inverted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        if mode.startswith("I;16"):
            low, high = 0.0, 65535.0
        elif high <= 255 and low >= 0:
            low, high = 0.0, 255.0
        span = (high - low) or 1.0
        gray = np.clip((values - low) * (255.0 / span), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode in ("P", "PA") and ("transparency" in image.info or mode == "PA"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _unidentified_reason(path: Path) -> str:
    try:
        size = os.path.getsize(path)
    except OSError:
        size = -1
    if size == 0:
        return "empty file (0 bytes)"
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        return f"cannot read file: {error.strerror}"
    if head and all(byte in b"\t\n\r\f\b" or 32 <= byte < 127 for byte in head):
        return f"not an image: a text file named {path.suffix or 'without extension'}"
    if head.startswith(b"\xff\xd8"):
        return "corrupt JPEG: header cannot be parsed"
    return "not an image Pillow can decode (unrecognised format)"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
