"""engine.nn.functional: the functional forms of activations and losses."""

__all__: list[str] = []
