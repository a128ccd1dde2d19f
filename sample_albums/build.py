"""Build demo albums from a folder of identity sub-folders: python sample_albums/build.py SOURCE DEST."""

import sys
from pathlib import Path

from clusterfaces.outputs.demo import build_demo_library

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    labels = build_demo_library(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{len(labels['photos'])} photos written to {sys.argv[2]}, labels in {Path(sys.argv[2]) / 'labels.json'}")
