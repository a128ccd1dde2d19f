"""What the library writes for people and other tools: folders, identity maps, XMP, pages, sheets."""
