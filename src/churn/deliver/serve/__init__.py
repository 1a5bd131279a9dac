"""The HTTP facade over the saved model: `churn serve`, `make serve` and the image's command.

`app.create_app` builds the FastAPI application; nothing here loads a model or starts a server at
import time. The service never imports MLflow or the training code.
"""
