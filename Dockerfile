# The vitalstream image: the ingest daemon (default), the simulator and `vitalstream report`.
#   docker build -t vitalstream:local .        (compose.yaml builds it for you)
#   docker run --rm vitalstream:local --help
FROM python:3.11-slim AS build
# a C compiler for the engine's compiled per-reading path (detectors/reading_path.py, compiled by Cython)
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY messages messages
COPY detectors detectors
COPY simulators simulators
COPY ingest ingest
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    VITALSTREAM_INGEST__HTTP_HOST=0.0.0.0
RUN useradd --system --create-home --home-dir /app --uid 10001 vitalstream \
    && install -d -o vitalstream -g vitalstream /app/labels
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# the wheel carries the named scenarios (package data) and the compiled engine path
RUN python -c 'from simulators import load_scenario; load_scenario("acute_events")' \
    && python -c 'import detectors.engine as e; assert e.COMPILED, "engine not compiled"'
USER vitalstream
WORKDIR /app
EXPOSE 18900
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:18900/healthz', timeout=3)"]
ENTRYPOINT ["vitalstream"]
CMD ["ingest"]
