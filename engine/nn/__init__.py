"""engine.nn: neural-network building blocks (layers arrive with the engine.nn issue)."""

from . import functional

__all__ = ["functional"]
