"""clusterfaces: find the people in a photo library without being told who they are."""

__version__ = "0.1.0"
