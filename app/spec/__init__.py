"""Job specs: the declarative model format, its registries, the builder and validation.

- `schema`: the pydantic spec models (`JobSpec`, `ModelSpec`, the polymorphic `Layer`);
  `args`, `layers`, `layers_conv`, `layers_seq`, `training`: the typed, bounded argument
  models of every layer, loss, optimizer and scheduler.
- `registry`, `registry_training`: one table entry per layer, loss, optimizer, scheduler;
  `shapes`: the per-layer facts entries carry (expected input, parameter count, bounds).
- `blocks`: spec-only modules (`Residual`, `SequencePool`, `Transpose`) and adapters
  giving tuple-returning layers (LSTM, GRU, RNN, MultiheadAttention) one output.
- `build`, `plan`: spec -> engine model, loss, optimizer, scheduler and the step plan;
  pure functions shared by the API and the workers.
- `validate`, `walk`, `targets`: the check of a spec against its dataset (a dummy
  forward/backward pass layer by layer), raising `errors.SpecInvalid` with a JSON path.

Nothing here touches the database or HTTP.
"""
