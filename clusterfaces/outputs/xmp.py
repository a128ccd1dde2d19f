"""XMP sidecars with MWG face regions, for digiKam, darktable and other photo tools.

A photo `a.jpg` gets `a.jpg.xmp` beside it (the name digiKam and darktable read and write). The
photo itself is never opened for writing. An existing sidecar is parsed as XML and only its
`mwg-rs:Regions` are replaced; everything else in it is kept. Regions follow the MWG 2.0 guidelines:
an `stArea` centre and size normalised to the upright photo (EXIF orientation applied), whose pixel
size is given in `AppliedToDimensions`.
"""

from __future__ import annotations

import io
import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from clusterfaces import __version__
from clusterfaces.atomic import WriteFailed, write_atomically
from clusterfaces.outputs.export import LibraryState

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
# Marks the regions as ours, so that a later export may take them away again (a person un-named).
CLUSTERFACES = "http://clusterfaces.invalid/xmp/1.0/"
PREFIXES = {"x": X, "rdf": RDF, "mwg-rs": MWG_RS, "stDim": ST_DIM, "stArea": ST_AREA, "clusterfaces": CLUSTERFACES}
MARKER = f"{{{CLUSTERFACES}}}RegionsBy"
PACKET_START = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
PACKET_END = '\n<?xpacket end="w"?>\n'
# Bounds on an existing sidecar: real ones are a few kilobytes and a dozen elements deep. Anything past
# these is skipped with its reason instead of exhausting memory or the interpreter's recursion limit.
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 256
_KINDS = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a named pipe (FIFO)", stat.S_ISSOCK: "a socket",
          stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}


@dataclass(frozen=True)
class PhotoRegions:
    """The named faces of one photo, in upright full-size pixels."""

    size: tuple[int, int]  # width, height
    faces: tuple[tuple[str, tuple[int, int, int, int]], ...]  # (name, (x, y, w, h))


@dataclass
class SidecarStats:
    """What writing the sidecars did."""

    written: int = 0
    unchanged: int = 0
    cleared: int = 0  # sidecars whose clusterfaces regions were taken away (nobody named there any more)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason)


def sidecar_path(photo: Path) -> Path:
    """`photo.jpg` -> `photo.jpg.xmp`."""
    return photo.with_name(photo.name + ".xmp")


def photo_regions(state: LibraryState) -> tuple[dict[str, PhotoRegions], set[str]]:
    """Regions of the named, not ignored people by photo; and every other photo with faces (whose earlier
    clusterfaces regions, if any, must go)."""
    named = {person.id: person.name for person in state.people if person.name and not person.ignored}
    faces: dict[str, list] = {}
    sizes: dict[str, tuple] = {}
    for face in state.faces:
        sizes[face.location] = face.photo_size
        if face.person_id in named:
            faces.setdefault(face.location, []).append((named[face.person_id], face.box))
    regions = {location: PhotoRegions(sizes[location], tuple(found)) for location, found in faces.items()}
    return regions, set(sizes) - set(regions)


def _number(value: float) -> str:
    return f"{min(1.0, max(0.0, value)):.6f}"


def regions_element(regions: PhotoRegions) -> ET.Element:
    """An mwg-rs:Regions struct: AppliedToDimensions and one Face region per named face."""
    width, height = regions.size
    element = ET.Element(f"{{{MWG_RS}}}Regions", {f"{{{RDF}}}parseType": "Resource"})
    ET.SubElement(element, f"{{{MWG_RS}}}AppliedToDimensions",
                  {f"{{{ST_DIM}}}w": str(width), f"{{{ST_DIM}}}h": str(height), f"{{{ST_DIM}}}unit": "pixel"})
    bag = ET.SubElement(ET.SubElement(element, f"{{{MWG_RS}}}RegionList"), f"{{{RDF}}}Bag")
    for name, (x, y, w, h) in sorted(regions.faces, key=lambda face: (face[1], face[0])):
        left, top = max(0, x), max(0, y)
        right, bottom = min(width, x + w), min(height, y + h)
        item = ET.SubElement(ET.SubElement(bag, f"{{{RDF}}}li"), f"{{{RDF}}}Description",
                             {f"{{{MWG_RS}}}Name": name, f"{{{MWG_RS}}}Type": "Face"})
        area = {"x": (left + right) / 2 / width, "y": (top + bottom) / 2 / height,
                "w": (right - left) / width, "h": (bottom - top) / height}
        attributes = {f"{{{ST_AREA}}}{key}": _number(value) for key, value in area.items()}
        ET.SubElement(item, f"{{{MWG_RS}}}Area", {**attributes, f"{{{ST_AREA}}}unit": "normalized"})
    return element


class SidecarError(Exception):
    """An existing sidecar that cannot be safely updated (it is left as it is)."""


def read_sidecar(sidecar: Path) -> bytes | None:
    """An existing sidecar's bytes (None when there is none). Only a regular file is read: a symbolic link
    (whose target lies elsewhere), a named pipe (reading it would wait forever), a folder or a device is
    left alone, as is a file too big to be a sidecar."""
    try:
        info = os.lstat(sidecar)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise SidecarError(f"the sidecar is a symbolic link (to {os.readlink(sidecar)}); it was left as it is")
    _check_regular(info)
    descriptor = os.open(sidecar, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as file:
        _check_regular(os.fstat(descriptor))  # it may have been swapped since the lstat
        data = file.read(MAX_SIDECAR_BYTES + 1)
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"the sidecar is over {MAX_SIDECAR_BYTES // 2**20} MB, too big to be XMP; "
                           "it was left as it is")
    return data


def _check_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS.items() if test(info.st_mode)), "not a file")
        raise SidecarError(f"the sidecar is not a regular file ({kind}); it was left as it is")


def _parse(data: bytes) -> tuple[ET.Element, dict[str, str]]:
    """The sidecar's root element (comments kept) and the namespace prefixes it uses; at most MAX_DEPTH
    elements deep (serialising deeper trees exhausts the recursion limit)."""
    prefixes: dict[str, str] = {}
    depth = 0
    try:
        for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start", "end")):
            if event == "start-ns":
                prefixes.setdefault(*item)
            elif event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise SidecarError(f"the existing sidecar nests elements more than {MAX_DEPTH} deep, which "
                                       "XMP never does; it was left as it is")
            else:
                depth -= 1
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
        parser.feed(data)
        return parser.close(), prefixes
    except ET.ParseError as error:
        raise SidecarError(f"the existing sidecar is not valid XML ({error}); it was left as it is") from None


def updated_sidecar(existing: bytes | None, regions: PhotoRegions | None) -> str | None:
    """The sidecar text with these regions (None: take clusterfaces' regions away). Returns None when the
    file should stay as it is (nothing of ours to add or take away)."""
    if existing is None:
        if regions is None:
            return None
        root, prefixes = ET.Element(f"{{{X}}}xmpmeta"), {}
        ET.SubElement(ET.SubElement(root, f"{{{RDF}}}RDF"), f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    else:
        root, prefixes = _parse(existing)
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise SidecarError("the existing sidecar has no rdf:RDF: it is not XMP, so it was left as it is")
    descriptions = rdf.findall(f"{{{RDF}}}Description")
    ours = any(MARKER in description.attrib for description in descriptions)
    if regions is None and not ours:
        return None  # regions someone else wrote: not ours to take away
    for description in descriptions:
        for old in description.findall(f"{{{MWG_RS}}}Regions"):
            description.remove(old)
        description.attrib.pop(MARKER, None)
    if regions is not None:
        if not descriptions:
            descriptions = [ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})]
        descriptions[0].set(MARKER, f"clusterfaces {__version__}")
        descriptions[0].append(regions_element(regions))
    return _serialise(root, prefixes)


def _serialise(root: ET.Element, prefixes: dict[str, str]) -> str:
    for prefix, uri in {**prefixes, **PREFIXES}.items():
        if prefix and not re.fullmatch(r"ns\d+", prefix):  # ElementTree keeps ns0, ns1, ... for itself
            ET.register_namespace(prefix, uri)
    ET.indent(root, space=" ")
    return PACKET_START + ET.tostring(root, encoding="unicode") + PACKET_END


def write_sidecars(regions: dict[str, PhotoRegions], others: Iterable[str] = ()) -> SidecarStats:
    """Write or update the sidecar of every photo with regions, and take clusterfaces' regions out of the
    sidecars of the other photos. A photo that cannot be done is skipped with its reason."""
    stats = SidecarStats()
    todo = [(location, regions[location]) for location in sorted(regions)] + [(o, None) for o in sorted(others)]
    for location, found in todo:
        photo = Path(location)
        try:
            if found is not None and not all(found.size):
                raise SidecarError("its size is not known: scan it again")
            sidecar = sidecar_path(photo)
            existing = read_sidecar(sidecar)
            if found is not None and not photo.exists():
                raise SidecarError("the photo is gone: scan again")
            try:
                text = updated_sidecar(existing, found)
            except RecursionError:
                raise SidecarError("the existing sidecar nests too deeply to update; it was left as it is") from None
            if text is None or text.encode("utf-8") == existing:
                if found is not None:
                    stats.unchanged += 1
                continue
            write_atomically(sidecar, text)  # beside the photo, keeping an existing sidecar's mode
            if found is None:
                stats.cleared += 1
            else:
                stats.written += 1
        except SidecarError as error:
            stats.skipped.append((location, str(error)))
        except WriteFailed as error:
            stats.skipped.append((location, error.reason))
        except OSError as error:
            stats.skipped.append((location, error.strerror or str(error)))
    return stats

