# RDZ image: the same code runs the web server (gunicorn), the Celery worker and beat.
# Built and run by docker-compose.yml; configuration comes only from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 1000 rdz

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time (whitenoise serves them); the throwaway secret
# only lets settings load with DEBUG=False, it is never used at run time.
RUN DEBUG=False SECRET_KEY=build-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var /data/media /data/deliveries && chown -R rdz:rdz /app/var /data/media /data/deliveries

USER rdz
# gunicorn reads its number of worker processes from WEB_CONCURRENCY: one per CPU core
# (the intake is CPU-bound; each worker serves 4 threads).
ENV DEBUG=False \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    DELIVERY_ROOT=/data/deliveries \
    WEB_CONCURRENCY=2
EXPOSE 8000
CMD ["gunicorn", "rdz.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-"]
