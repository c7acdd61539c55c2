"""app: the Trainforge training-as-a-service API, database and workers.

Filled by the service issue; `app` imports `engine`, never the other way round.
"""
