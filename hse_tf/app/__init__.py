"""The search page: `python -m hse_tf.app --index INDEX --models MODELS`.

`gallery` (an index as the page sees it: search records, moments, thumbnails, media), `api`
(the FastAPI back end: JSON API, files, metrics) and `static/` (the page: plain HTML, CSS and a
small script, no build step, nothing fetched from the internet).
"""
