# hcert issuing service. Build: docker build -t hcert .
# Keys and data live on mounted volumes, never in the image.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1
COPY requirements/ requirements/
COPY scripts/install-wheels scripts/
COPY verifier/ verifier/
COPY app/ app/
COPY issuer/ issuer/
COPY keys/ keys/
COPY pyproject.toml setup.py README.md ./
# Both wheels built from this tree, third-party packages from requirements/runtime.lock
# (hashes): tests/app/test_wheel.py runs this same script and then the installed service.
RUN scripts/install-wheels /opt/hcert

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 hcert \
 && useradd --system --uid 10001 --gid hcert --home-dir /var/lib/hcert --shell /usr/sbin/nologin hcert \
 && mkdir -p /var/lib/hcert/data /var/lib/hcert/keys \
 && chown -R hcert:hcert /var/lib/hcert
COPY --from=build /opt/hcert /opt/hcert
ENV PATH=/opt/hcert/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HCERT_DATA_DIR=/var/lib/hcert/data \
    HCERT_KEYS_DIR=/var/lib/hcert/keys
USER hcert
WORKDIR /var/lib/hcert
VOLUME ["/var/lib/hcert/data", "/var/lib/hcert/keys"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["hcert"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
