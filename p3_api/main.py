"""What ``uvicorn p3_api.main:app`` (and ``make api``) serves: the app for the environment."""

from .app import create_app

app = create_app()
