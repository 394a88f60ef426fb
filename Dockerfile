# Tongbu server image: `docker build -t tongbu . && docker run -p 8000:8000 -p 40000-40100:40000-40100/udp tongbu`
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TONGBU_DATA_DIR=/var/lib/tongbu TONGBU_HOST=0.0.0.0 TONGBU_PORT=8000 \
    TONGBU_MEDIA__UDP_PORT_MIN=40000 TONGBU_MEDIA__UDP_PORT_MAX=40100

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libopus0 libvpx7 libsrtp2-1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY media ./media
COPY signaling ./signaling
COPY recorder ./recorder
COPY clients ./clients
RUN pip install --no-cache-dir .

RUN useradd --system --home /var/lib/tongbu tongbu && mkdir -p /var/lib/tongbu && chown tongbu /var/lib/tongbu
USER tongbu
VOLUME ["/var/lib/tongbu"]
EXPOSE 8000
# Migrates, then serves. Set TONGBU_SECRET_KEY, TONGBU_DATABASE_URL and the ICE settings in production.
CMD ["tongbu", "serve"]
