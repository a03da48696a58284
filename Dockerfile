# The vitalstream image: the ingest daemon (default), the simulator and `vitalstream report`.
#   docker build -t vitalstream:local .        (compose.yaml builds it for you)
#   docker run --rm vitalstream:local --help
FROM python:3.11-slim AS build
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
# the named scenarios are data files the wheel does not carry (pyproject declares package data
# for ingest.stack only): put them where simulators.scenario looks (beside the module)
COPY simulators/scenarios /tmp/scenarios
RUN dest="$(python -c 'import pathlib, simulators; print(pathlib.Path(simulators.__file__).parent)')/scenarios" \
    && mkdir -p "$dest" && cp /tmp/scenarios/*.toml "$dest"/ && rm -rf /tmp/scenarios \
    && python -c 'from simulators import load_scenario; load_scenario("acute_events")'
USER vitalstream
WORKDIR /app
EXPOSE 18900
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:18900/healthz', timeout=3)"]
ENTRYPOINT ["vitalstream"]
CMD ["ingest"]
