"""What the tests and the benchmarks share: real nodes started with the production gunicorn command on
free loopback ports, and tiny real SavedModels of both TF Hub detector families. Not part of a node."""
