"""`python -m webapp`: serve on $HOST:$PORT (default 0.0.0.0:5000) with gunicorn."""

from webapp.server import main

main()
