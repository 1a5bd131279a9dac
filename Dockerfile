# The service image: the pipeline's model embedded, served by `churn serve` on $PORT (8080).
#   make image                      (docker build --build-arg GIT_SHA=<commit> -t churn-service .)
#   docker run -p 8080:8080 churn-service
# Needs models/model and models/compiled in the build context: `make run` (dvc repro) makes them.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Only the service's locked dependencies, each checked against its hash; wheels only.
COPY requirements/serve.txt /tmp/serve.txt
RUN /opt/venv/bin/pip install --no-deps --require-hashes --only-binary=:all: -r /tmp/serve.txt
# The churn package itself needs no build step: its source is the installed form. Copying it
# beside its dependencies avoids a build backend that the locked service set does not hold.
COPY src/churn /opt/venv/lib/python3.11/site-packages/churn
RUN /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3.11/site-packages/churn

FROM python:3.11-slim
ARG GIT_SHA=unknown
# OMP_NUM_THREADS=1: two OpenMP threads double the CPU per request at the same throughput.
# HOST=0.0.0.0: reachable through `docker run -p`; `churn serve` alone listens on loopback.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    GIT_SHA=${GIT_SHA}
RUN groupadd --system --gid 10001 churn \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin churn
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY models/model ./model
COPY models/compiled ./compiled
USER 10001:10001
EXPOSE 8080
# No curl in the slim image: Python asks /ping.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/ping', timeout=4)"]
CMD ["python", "-m", "churn", "serve", "--model", "model", "--compiled", "compiled"]
