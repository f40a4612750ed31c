FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY sql ./sql
COPY server.py worker.py ./
RUN pip install --no-cache-dir .
ENV RUSTDOCS_DATA_DIR=/data
VOLUME /data
CMD ["rustdocs-mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
