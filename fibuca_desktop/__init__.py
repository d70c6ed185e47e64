"""Fibuca Desktop: photo work on staff computers, and tools that keep Fibuca's server healthy."""

__version__ = "0.1.0"
