"""HTTP layer: dependencies (`deps`), the strict route class and routers (`routes/`)."""
