# syntax=docker/dockerfile:1
# Build: docker build -t portal .
# Run:   docker run -p 8000:8000 -e PORTAL_ENVIRONMENT=production -e PORTAL_SECRET_KEY=... \
#          -e PORTAL_DATABASE_URL=postgresql+psycopg://user:pass@db/portal portal

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app ./app
RUN python -m venv /opt/portal \
 && /opt/portal/bin/pip install --upgrade pip \
 && /opt/portal/bin/pip install . \
 && /opt/portal/bin/pybabel compile -d app/locale -D messages \
 && cp -r app/locale /opt/portal/locale-compiled

FROM python:3.11-slim-bookworm
# WeasyPrint needs Pango; DejaVu is the PDFs' font; certificates call HarfBuzz's subsetter.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /srv/portal portal
COPY --from=build /opt/portal /opt/portal
WORKDIR /srv/portal
COPY --chown=portal:portal . .
RUN cp -r /opt/portal/locale-compiled/. app/locale/ && mkdir -p var && chown portal:portal var
USER portal
ENV PATH=/opt/portal/bin:$PATH PYTHONPATH=/srv/portal PORTAL_ENVIRONMENT=production \
    PORTAL_MAIL_BACKEND=smtp FORWARDED_ALLOW_IPS=*
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# Migrations first, then several workers (uvloop + httptools).
CMD ["sh", "-c", "portal db upgrade && exec portal serve --host 0.0.0.0 --port 8000 --workers ${WORKERS:-4}"]
