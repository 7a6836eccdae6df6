"""`genlab serve`: a local web page to play with trained runs, served by the standard library.

    server.py      the HTTP side: ThreadingHTTPServer, body size cap, JSON errors, Ctrl-C
    app.py         Playground: the runs by the names the server gave them, the routes, the page's files
    image_runs.py  what an image run offers: sample, interpolate, reconstruct + latent neighbours
    arith_runs.py  what an arithmetic run offers: ask (a typed query), read (a drawn or uploaded one)
    payload.py     request parameters with their caps, uploads, PNG data URLs, HTTPError
    static/        index.html, app.js, style.css: the page (no CDN, works offline)

It sits above both products (like the report and the demo); they never import it.
"""
