"""The three ways to deliver one model, one folder each (delete a folder and its Makefile line
to drop a delivery): `serve` wraps it in an HTTP service, `score` serves it as data (a
pre-scored store), `wheel` embeds it in an installable package."""
