"""app: the Trainforge training-as-a-service API, database and workers.

Layout: `main` (app factory), `config` (settings), `db` (engine, sessions, transactions),
`models` (ORM), `schemas` (pydantic), `api` (dependencies and routers), `services`
(business logic, owns transactions), `migrate` (Alembic), `cli` (`trainforge`).
`app` imports `engine`, never the other way round.
"""
