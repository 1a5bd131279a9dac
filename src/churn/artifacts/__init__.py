"""The on-disk contracts between stages and deliveries, one module each: the prepared split,
the model directory and the compiled model. Everything else reads and writes them through
these modules, never by file name."""
