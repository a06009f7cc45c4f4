# One image for the API (`headrace serve`), the workers (`headrace worker`) and the Argo step
# pods (`headrace step exec`, the command in every run's manifest).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEADRACE_DATA_DIR=/var/lib/headrace

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/headrace --create-home headrace

USER 10001
EXPOSE 8000
CMD ["headrace", "serve", "--host", "0.0.0.0"]
