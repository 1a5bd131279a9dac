"""Engines: the same stages and deliveries run at a larger scale than one process (Spark, ...).

A layer above the deliveries: an engine may use a delivery's pieces (the Spark engine scores with
the score delivery's own chunk scorer), never the reverse.
"""
