"""Layers of engine.nn still to come."""

__all__: list[str] = []
