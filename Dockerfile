FROM python:3.11-slim
WORKDIR /srv/trainforge
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install --no-cache-dir .
ENV TRAINFORGE_DATABASE_URL=sqlite:////data/trainforge.db
VOLUME ["/data"]
EXPOSE 8000
# Migrates the database, then serves the API.
CMD ["trainforge", "serve", "--host", "0.0.0.0", "--port", "8000"]
