"""Business logic. Services own their transactions (`app.db.transaction`) and raise
`app.errors` domain errors; routes only parse, call a service and build the response."""
