# A detection node: gunicorn + Flask + TensorFlow, serving POST /api/detect on port 5000.
#
#   docker build -t objdet-node:dev .
#   docker run -p 5000:5000 -v "$PWD/images:/app/images:ro" -v objdet-output:/app/output \
#              -v objdet-tfhub:/app/cache/tfhub objdet-node:dev
#
# Build arguments:
#   REQUIREMENTS=requirements-gpu.txt  TensorFlow with CUDA wheels (untested here; see docs/deployment.md)
#   BAKE_MODEL=<handle>                download the model at build time into /app/model and make it the
#                                      default MODEL_HANDLE, so the container starts without the internet
# Every setting is an environment variable read by app/config.py (MODEL_HANDLE, WORKERS, THREADS, ...).
FROM python:3.11.13-slim-bookworm

ARG REQUIREMENTS=requirements.txt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    TFHUB_CACHE_DIR=/app/cache/tfhub

# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it and volumes can be chowned to it.
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first: this layer is rebuilt only when a requirements file changes.
COPY requirements.txt requirements-gpu.txt ./
RUN python -m venv /opt/venv \
 && pip install --no-cache-dir -r "${REQUIREMENTS}"

# What the model fetch needs, before the rest of the code, so code edits keep a baked model's layer.
# (`python -m` from /app finds the packages here; the project itself is installed below.)
COPY detector/ detector/
COPY scripts/__init__.py scripts/fetch_model.py scripts/
ARG BAKE_MODEL=""
RUN if [ -n "${BAKE_MODEL}" ]; then python -m scripts.fetch_model "${BAKE_MODEL}" --dest /app/model; fi
# Empty (no baked model) means the default handle (detector/handles.py).
ENV MODEL_HANDLE=${BAKE_MODEL:+/app/model}

COPY pyproject.toml gunicorn.conf.py ./
COPY app/ app/
COPY client/ client/
COPY measure/ measure/
COPY reporting/ reporting/
COPY scripts/ scripts/
# The project's packages into the venv, so `python scripts/sender.py ...` works from any folder.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && rm -rf build ./*.egg-info

RUN mkdir -p /app/images /app/output /app/cache/tfhub \
 && chown 10001:10001 /app/output /app/cache/tfhub

# Images are only read (mount them :ro); results and the TF Hub download cache outlive the container.
VOLUME ["/app/images", "/app/output", "/app/cache/tfhub"]

USER 10001:10001
EXPOSE 5000

# Ready = model loaded and warmed up. Slim images have no curl; Python's urllib fails on any non-2xx.
# With API_KEY set, /api/ready needs the key too: the check sends it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:%s/api/ready' % os.environ.get('PORT', '5000'), headers={'X-API-Key': os.environ.get('API_KEY', '')}), timeout=4)"]

# The exact command the tests run (tests/servers.py): gthread workers, no preload, settings from the environment.
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
