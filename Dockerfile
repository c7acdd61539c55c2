FROM python:3.11-slim
WORKDIR /srv/trainforge
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY app ./app
COPY examples ./examples
RUN pip install --no-cache-dir .
# The service entrypoint (`trainforge serve`) arrives with the service issue;
# until then the image runs the engine demo.
CMD ["python", "examples/engine_demo.py"]
