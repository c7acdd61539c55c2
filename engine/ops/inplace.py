"""inplace ops (being filled)."""

__all__: list[str] = []
METHODS: dict = {}
