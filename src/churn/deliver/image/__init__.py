"""The service image's own code: its entrypoint (what `docker run IMAGE [serve]` runs) and the
build-time check that the base image's Python is the project's."""
