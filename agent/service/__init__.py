"""``facelens serve``: the CLI's verbs as a REST API (FastAPI on uvicorn), with API keys and limits.

::

    from facelens.agent.service import create_app
    app = create_app()          # then: uvicorn.run(app, host="127.0.0.1", port=8000)

Needs the ``serve`` extra: ``pip install 'facelens[serve]'``.
"""

from __future__ import annotations


def create_app(**kw):  # type: ignore[no-untyped-def]
    """The FastAPI app (see :func:`facelens.agent.service.app.create_app`)."""
    from facelens.agent.service.app import create_app as _create

    return _create(**kw)


__all__ = ["create_app"]
