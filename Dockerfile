# One image for the API (`headrace serve`), the workers (`headrace worker`) and the Argo step
# pods (`headrace step exec`, the command in every run's manifest). Built in stages so that
# the dependencies are installed again only when uv.lock changes: `deps` installs what the
# lock pins (its layer is cached while the exported requirements stay the same), `app` adds
# headrace itself, and the final image holds the virtualenv and nothing of the build.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ${PYTHON_IMAGE} AS uv
ARG UV_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install "uv==${UV_VERSION}"

# The server's pinned requirements, from the lock. Editing pyproject.toml without changing
# the lock gives the same file, so the next stage stays cached.
FROM uv AS lock
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-emit-project --extra server --output-file /requirements.txt

FROM uv AS deps
COPY --from=lock /requirements.txt /requirements.txt
RUN uv venv /opt/headrace \
    && uv pip install --python /opt/headrace/bin/python --no-cache --require-hashes \
        -r /requirements.txt

FROM deps AS app
WORKDIR /src
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY src ./src
RUN uv pip install --python /opt/headrace/bin/python --no-cache --no-deps .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/headrace/bin:$PATH \
    HEADRACE_DATA_DIR=/var/lib/headrace \
    HOME=/var/lib/headrace
COPY --from=app /opt/headrace /opt/headrace
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/headrace --create-home headrace

USER 10001
EXPOSE 8000
CMD ["headrace", "serve", "--host", "0.0.0.0"]
