# syntax=docker/dockerfile:1
# The WhatsApp delivery-error service: one stateless replica per container.
#   docker build -t whatsapp-errors-server:1.0.0 .     (the tag is the packages' version)
#   docker run --rm -p 50051:50051 -p 9464:9464 whatsapp-errors-server:1.0.0
# Slim, non-root, no compilers in the final image; health from the gRPC health service.

ARG PYTHON_VERSION=3.12

# ---- build: wheels for the package and its runtime dependencies only ----------------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A C compiler for mypyc, which setup.py compiles the stream's hot path with (this stage only).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY protos ./protos
COPY server ./server
COPY client ./client
# The import root: links to server/, client/ and the stubs, as mypyc names the modules.
COPY whatsapp_errors ./whatsapp_errors
# The same two projects `make serve` and `pip install ./client` install: the client and
# stubs (./client), then the server (its hot path compiled), which depends on it.
RUN pip wheel --wheel-dir /wheels ./client . 

# ---- run ------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim
ARG VERSION=1.0.0
LABEL org.opencontainers.image.title="whatsapp-errors-server" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels whatsapp-errors-server \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001
WORKDIR /app
# gRPC and Prometheus /metrics.
EXPOSE 50051 9464
# JSON logs to stderr; one worker per container: scale with replicas, not processes
# (README, Running many replicas). Plaintext needs --insecure off loopback: behind a
# mesh or on a private network. For TLS replace it with --tls-cert/--tls-key (mounted
# files); a bearer token comes from WAERR_TOKEN or --token-file. /metrics listens on
# loopback unless asked (--metrics-host); WAERR_METRICS_TOKEN puts a token on it.
ENTRYPOINT ["python", "-m", "whatsapp_errors.server"]
CMD ["--host", "0.0.0.0", "--port", "50051", "--insecure", "--metrics-port", "9464", \
     "--metrics-host", "0.0.0.0", "--workers", "1", "--log-format", "json"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-m", "whatsapp_errors.server.healthcheck", "--port", "50051", "--timeout", "2"]
# SIGTERM drains in-flight calls (--grace, default 10 s); SIGHUP reloads the catalog.
STOPSIGNAL SIGTERM
