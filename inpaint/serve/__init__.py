"""`inpaint serve`: a local web page to fill photos by painting the hole, and the HTTP API behind it.

  filler.py   the fills: one at a time on one worker thread behind a bounded queue, each request in a
              private folder removed when the request ends, through `inpaint fill`'s own plan and loop
  app.py      the FastAPI app: the page, /api/fill, /api/methods, /api/queue, /openapi.json, /docs
  apidocs.py  /docs: the OpenAPI description as a plain HTML page (no script or font from elsewhere)
  static/     the page: plain HTML, CSS and JavaScript on a canvas, nothing fetched from elsewhere
"""
