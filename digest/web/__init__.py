"""The web side (``digest serve``): unsubscribe and preferences pages, the archive,
``/healthz``; Starlette under uvicorn. ``app.create_app`` assembles the routes."""
