# The service image: the pipeline's model embedded, served by `churn serve` on $PORT (8080).
#   make image                      (docker build with GIT_SHA and PYTHON_VERSION set)
#   docker run -p 8080:8080 churn-service          (or `... churn-service serve`, as SageMaker does)
# Needs models/model and models/compiled in the build context: `make run` (dvc repro) makes them.

# The project's Python is declared once, in .python-version; `make image` passes it. This default
# is for a bare `docker build` (a unit test keeps it equal), and the first step of the build
# refuses a base image whose Python differs. Dependabot is told not to bump it (dependabot.yml).
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY .python-version /tmp/python-version
COPY src/churn/deliver/image/python_version.py /tmp/python_version.py
RUN python /tmp/python_version.py /tmp/python-version \
 && python -m venv /opt/venv
# Only the service's locked dependencies, each checked against its hash; wheels only.
COPY requirements/serve.txt /tmp/serve.txt
RUN /opt/venv/bin/pip install --no-deps --require-hashes --only-binary=:all: -r /tmp/serve.txt
# The churn package needs no build step: its source is its installed form. It lives outside the
# venv, on PYTHONPATH, so no path names the interpreter's version.
COPY src/churn /opt/churn/churn
RUN /opt/venv/bin/python -m compileall -q /opt/churn

FROM python:${PYTHON_VERSION}-slim
ARG GIT_SHA=unknown
# OMP_NUM_THREADS=1: two OpenMP threads double the CPU per request at the same throughput.
# HOST=0.0.0.0: reachable through `docker run -p`; `churn serve` alone listens on loopback.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/churn \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    GIT_SHA=${GIT_SHA}
RUN groupadd --system --gid 10001 churn \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin churn
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/churn /opt/churn
WORKDIR /app
COPY models/model ./model
COPY models/compiled ./compiled
USER 10001:10001
EXPOSE 8080
# No curl in the slim image: Python asks /ping.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/ping', timeout=4)"]
# `docker run IMAGE` and SageMaker's `docker run IMAGE serve` both serve: the entrypoint reads
# the model from /opt/ml/model when SageMaker mounts one there, else from /app.
ENTRYPOINT ["python", "-m", "churn.deliver.image.entrypoint"]
CMD ["serve"]
