"""Workers: claim queued jobs, train them with the engine, and write their results
under the lease fence (`app.queue`). `runner` trains one claimed job, `loop` is the
worker process, `outputs` holds the fenced checkpoint and completion writes."""
