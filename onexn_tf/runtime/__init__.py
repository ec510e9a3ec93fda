"""Running onexn models: load the delegate and read its report, benchmark it against the stock runtime,
time each operator. Needs only numpy and ai-edge-litert (no TensorFlow)."""
