# A small image for pipeline steps: `docker build -t placer .` then
#   docker run --rm -i placer solve - --quiet < scenario.yaml
# Not built in CI (no Docker engine there); the CPU build of JAX is used.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY placer ./placer
COPY configs ./configs
RUN python -m pip install . && rm -rf /src

# No config files are read implicitly: everything comes from arguments and stdin.
RUN useradd --create-home --uid 10001 placer
USER placer
WORKDIR /work
ENTRYPOINT ["placer"]
CMD ["solve"]
