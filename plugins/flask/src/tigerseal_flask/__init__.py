"""Flask extension for tigerseal: init_app, JWT / API-key / rate-limit decorators."""
