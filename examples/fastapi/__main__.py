"""``python -m examples.fastapi``: serve the example on 127.0.0.1 (``EXAMPLE_PORT``, 8000)."""

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run(
        "examples.fastapi.app:app",
        host="127.0.0.1",
        port=int(os.environ.get("EXAMPLE_PORT", "8000")),
        # The app decides which forwarding headers to believe (EXAMPLE_TRUSTED_PROXIES);
        # uvicorn must not rewrite the client address from X-Forwarded-For first.
        proxy_headers=False,
    )
