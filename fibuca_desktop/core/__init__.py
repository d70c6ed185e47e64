"""Headless core of Fibuca Desktop. Nothing under this package may import Qt or pyqtgraph."""
