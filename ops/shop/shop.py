#!/usr/bin/env python3
"""ops/shop/shop.py - the demo shop: a small web shop on loopback that shows
edgerec's recommendation widget (edge/widget/) the way a real shop does.

  python3 ops/shop/shop.py --catalog demo/data/catalog.csv \\
      --edge 127.0.0.1:8080 --port 8000 --write-catalog demo/data/catalog_shop.csv
  python3 ops/shop/shop.py --catalog demo/data/catalog.csv \\
      --write-catalog demo/data/catalog_display.csv --catalog-only

Pages:
  /                 home page: "Recommended for you" (the visitor's cookie id)
  /p/ID             product page: the product, "Similar products", more of
                    its category and, at the foot, "Recommended for you"
  /c/NAME           category page: "Popular in NAME" (the widget with
                    data-category, and the products the page lists in
                    data-exclude), then the category's products
  /?visitor=ID      becomes visitor ID (sets the shop_vid cookie; a demo aid)
  /img/ID.svg       a generated picture of the product
  /products.json?ids=ID,ID   product data for the widget's fallback
  /static/edgerec-widget.{js,css}   the widget, cached for a year, with ETag
  /v1/*             proxied to recedge with the browser's headers, so the
                    widget's calls are same-origin, as behind a shop's host
                    name (and carry the shop's cookies, as there); POST
                    only to /v1/event (the widget's click beacons), with
                    its body

Names come from the catalog's `title` column (generated from the category
when there is none), prices from `price` (generated when absent), pictures
are SVG drawn from the product id. --write-catalog writes the catalog with
title,url,image_url,price,currency columns added: the display columns of
schemas/inputs.md, which recbuild stores so that recedge answers them to
fields= (the widget's request). Its URLs are absolute (this shop's address)
when the shop serves, and site-relative (/p/ID, /img/ID.svg) with
--catalog-only, which writes the file and exits: what ops/demo.sh builds
the cache from, so that the links work whatever port the shop gets.

Only Python's standard library is used. Python 3.9 or later.
"""
import argparse
import csv
import hashlib
import html
import http.client
import json
import os
import re
import secrets
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VISITOR_COOKIE = "shop_vid"
STATIC_MAX_AGE = 31536000  # one year: the URL carries the file's hash
PROXY_TIMEOUT_S = 2.0
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}

ADJECTIVES = ["Classic", "Compact", "Deluxe", "Everyday", "Premium", "Smart", "Sturdy", "Urban", "Vintage", "Bold"]


def stable_hash(text):
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Catalog:
    """The products of recgen's catalog.csv, with display fields."""

    def __init__(self, path, currency):
        self.products = {}
        self.order = []
        self.categories = {}
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                pid = row.get("product") or ""
                if not pid or pid in self.products:
                    continue
                cat = row.get("category") or ""
                h = stable_hash(pid)
                title = (row.get("title") or "").strip()
                if not title:
                    title = "%s %s %s" % (ADJECTIVES[h % len(ADJECTIVES)], cat.replace("-", " ") or "item", pid)
                try:
                    price = round(float(row.get("price") or ""), 2)
                except ValueError:
                    price = round(4.99 + (h >> 8) % 19500 / 100.0, 2)
                self.products[pid] = {
                    "product": pid, "category": cat, "in_stock": row.get("in_stock", "1") == "1",
                    "title": title, "price": price, "currency": currency,
                    "url": "/p/" + urllib.parse.quote(pid, safe=""),
                    "image_url": "/img/" + urllib.parse.quote(pid, safe="") + ".svg",
                }
                self.order.append(pid)
                self.categories.setdefault(cat, []).append(pid)

    def fields(self, pid, base):
        """The widget's fields for one product; URLs absolute when base is set."""
        p = self.products[pid]
        return {"title": p["title"], "url": base + p["url"], "image_url": base + p["image_url"],
                "price": p["price"], "currency": p["currency"]}

    def write_extended(self, path, base):
        """catalog.csv plus title,url,image_url,price,currency (absolute URLs)."""
        tmp = path + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["product", "category", "in_stock", "title", "url", "image_url", "price", "currency"])
            for pid in self.order:
                p = self.products[pid]
                w.writerow([pid, p["category"], "1" if p["in_stock"] else "0", p["title"], base + p["url"],
                            base + p["image_url"], "%.2f" % p["price"], p["currency"]])
        os.replace(tmp, path)


def product_svg(p):
    """A simple picture: a background from the category, a shape from the id."""
    hc = stable_hash(p["category"])
    hp = stable_hash(p["product"])
    hue = hc % 360
    bg = "hsl(%d,55%%,88%%)" % hue
    fg = "hsl(%d,60%%,%d%%)" % ((hue + 30 + hp % 60) % 360, 35 + hp % 25)
    kind = hp % 3
    if kind == 0:
        shape = '<circle cx="100" cy="92" r="%d" fill="%s"/>' % (40 + hp % 25, fg)
    elif kind == 1:
        s = 70 + hp % 40
        shape = '<rect x="%d" y="%d" width="%d" height="%d" rx="12" fill="%s"/>' % (100 - s // 2, 92 - s // 2, s, s, fg)
    else:
        shape = '<polygon points="100,%d %d,140 %d,140" fill="%s"/>' % (30 + hp % 20, 40 + hp % 15, 160 - hp % 15, fg)
    label = html.escape(p["category"].replace("-", " ")[:22])
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">'
            '<rect width="200" height="200" fill="%s"/>%s'
            '<text x="100" y="182" font-family="sans-serif" font-size="15" text-anchor="middle" fill="#333">%s</text>'
            '</svg>' % (bg, shape, label)).encode()


class Static:
    """A file served with a strong ETag and a year of caching."""

    def __init__(self, path, ctype):
        with open(path, "rb") as f:
            self.body = f.read()
        self.ctype = ctype
        self.etag = '"%s"' % hashlib.sha256(self.body).hexdigest()[:16]
        self.version = self.etag.strip('"')


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - edgerec demo shop</title>
<link rel="stylesheet" href="/static/edgerec-widget.css?v={css_v}">
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; }}
header {{ background: #1d2430; color: #fff; padding: 12px 24px; }}
header a {{ color: #fff; text-decoration: none; font-weight: 700; }}
main {{ max-width: 1100px; margin: 0 auto; padding: 16px 24px; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 12px;
         list-style: none; padding: 0; }}
.grid a {{ color: inherit; text-decoration: none; display: block; }}
.grid img {{ width: 100%; height: auto; border-radius: 4px; }}
.product {{ display: flex; gap: 24px; align-items: flex-start; }}
.price {{ font-size: 20px; font-weight: 700; }}
.who {{ color: #5b6573; font-size: 13px; }}
</style>
</head>
<body>
<header><a href="/">edgerec demo shop</a></header>
<main>
{body}
</main>
<script>window.EdgerecConfig = {{endpoint: {endpoint}, cookie: "{cookie}", catalog: "/products.json?ids={{ids}}", timeoutMs: {timeout}}};</script>
<script src="/static/edgerec-widget.js?v={js_v}" defer></script>
</body>
</html>
"""


def money(price, currency):
    return "%.2f %s" % (price, currency)


class Shop:
    def __init__(self, args):
        self.catalog = Catalog(args.catalog, args.currency)
        self.edge_host, _, port = args.edge.rpartition(":")
        self.edge_port = int(port)
        self.edge_host = self.edge_host.strip("[]") or "127.0.0.1"
        here = os.path.dirname(os.path.abspath(__file__))
        widget = args.widget_dir or os.path.join(here, "..", "..", "edge", "widget")
        self.js = Static(os.path.join(widget, "edgerec-widget.js"), "text/javascript; charset=utf-8")
        self.css = Static(os.path.join(widget, "edgerec-widget.css"), "text/css; charset=utf-8")
        self.n = args.n
        self.timeout_ms = args.widget_timeout
        self.endpoint = args.endpoint
        self.home_products = self.catalog.order[:args.home_products]
        self.more_products = args.home_products
        self.base = ""

    def page(self, title, body):
        return PAGE.format(title=html.escape(title), body=body, cookie=VISITOR_COOKIE, css_v=self.css.version,
                           js_v=self.js.version, timeout=self.timeout_ms,
                           endpoint=json.dumps(self.endpoint).replace("<", "\\u003c")).encode()

    def tile(self, pid):
        p = self.catalog.products[pid]
        return ('<li><a href="%s"><img src="%s" alt="" width="160" height="160" loading="lazy">'
                '<span>%s</span><br><b>%s</b></a></li>' % (html.escape(p["url"]), html.escape(p["image_url"]),
                                                         html.escape(p["title"]), money(p["price"], p["currency"])))

    def home(self, visitor):
        tiles = "\n".join(self.tile(pid) for pid in self.home_products)
        cats = " ".join('<a href="/c/%s">%s</a>' % (html.escape(urllib.parse.quote(c, safe=""), quote=True),
                                                     html.escape(c.replace("-", " ")))
                        for c in sorted(self.catalog.categories) if c)
        body = ('<p class="who">Visitor id <code>%s</code></p>\n'
                '<div id="recs" data-edgerec-widget data-n="%d" data-heading="Recommended for you"></div>\n'
                '<h2>Our products</h2>\n<ul class="grid">\n%s\n</ul>\n<p class="who">Categories: %s</p>'
                % (html.escape(visitor), self.n, tiles, cats))
        return self.page("Home", body)

    def product(self, pid, visitor):
        p = self.catalog.products[pid]
        q = html.escape(pid, quote=True)
        body = ('<div class="product"><img src="%s" alt="%s" width="320" height="320">'
                '<div><h1>%s</h1><p class="price">%s</p><p>Category: %s</p><p>%s</p>'
                '<p class="who">Visitor id <code>%s</code></p></div></div>\n'
                '<div id="similar" data-edgerec-widget data-products="%s" data-n="%d" '
                'data-heading="Similar products"></div>\n'
                % (html.escape(p["image_url"]), html.escape(p["title"]), html.escape(p["title"]),
                   money(p["price"], p["currency"]), html.escape(p["category"]),
                   "In stock" if p["in_stock"] else "Out of stock", html.escape(visitor), q, self.n))
        # The category below, then the visitor's own strip at the foot of the
        # page: it loads only when scrolled to.
        more = [i for i in self.catalog.categories.get(p["category"], []) if i != pid][:self.more_products]
        body += ('<h2>More in %s</h2>\n<ul class="grid">\n%s\n</ul>\n'
                 '<div id="foot" data-edgerec-widget data-n="%d" data-heading="Recommended for you"></div>\n'
                 % (html.escape(p["category"]), "\n".join(self.tile(i) for i in more), self.n))
        return self.page(p["title"], body)

    def category(self, cat, visitor):
        """A category page: a strip of recommendations within the category
        (category=), which never repeats the products listed below it
        (exclude=, at most 50), then the listing."""
        listed = self.catalog.categories[cat][:self.more_products]
        q = html.escape(cat, quote=True)
        body = ('<h1>%s</h1>\n<p class="who">Visitor id <code>%s</code></p>\n'
                '<div id="category" data-edgerec-widget data-category="%s" data-exclude="%s" data-n="%d" '
                'data-heading="Popular in %s"></div>\n'
                '<h2>All %s</h2>\n<ul class="grid">\n%s\n</ul>'
                % (html.escape(cat.replace("-", " ")), html.escape(visitor), q,
                   html.escape(",".join(listed[:50]), quote=True), self.n, html.escape(cat.replace("-", " ")),
                   html.escape(cat.replace("-", " ")), "\n".join(self.tile(i) for i in listed)))
        return self.page(cat, body)

    def products_json(self, ids):
        out = {}
        for pid in ids[:100]:
            if pid in self.catalog.products:
                out[pid] = self.catalog.fields(pid, "")
        return json.dumps(out, separators=(",", ":")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "edgerec-demo-shop"
    shop = None  # set in main
    quiet = True

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write("shop: %s %s\n" % (self.address_string(), fmt % args))

    def send(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def not_found(self):
        self.send(404, "text/html; charset=utf-8", self.shop.page("Not found", "<h1>Not found</h1>"),
                  [("Cache-Control", "no-store")])

    def visitor(self, query):
        """The visitor id (cookie shop_vid, or ?visitor=), and the Set-Cookie to send."""
        jar = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k:
                jar[k] = v
        want = query.get("visitor", [""])[0]
        if want and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", want):
            vid = want
        elif jar.get(VISITOR_COOKIE):
            return urllib.parse.unquote(jar[VISITOR_COOKIE]), []
        else:
            vid = secrets.token_hex(8)
        cookie = "%s=%s; Path=/; Max-Age=31536000; SameSite=Lax" % (VISITOR_COOKIE, vid)
        return vid, [("Set-Cookie", cookie)]

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        """POST /v1/event (navigator.sendBeacon) to recedge with its body;
        any other POST is 405. A body over 64 KiB is not read (recedge
        refuses more than 4 KiB anyway)."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if path != "/v1/event" or not 0 <= length <= 65536:
            self.close_connection = True
            return self.send(405 if path != "/v1/event" else 413, "application/json",
                             b'{"error":"refused","reason":"the shop proxies POST /v1/event only"}',
                             [("Cache-Control", "no-store")])
        return self.proxy(self.rfile.read(length))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        shop = self.shop
        if path.startswith("/v1/"):
            return self.proxy()
        if path == "/static/edgerec-widget.js":
            return self.static(shop.js)
        if path == "/static/edgerec-widget.css":
            return self.static(shop.css)
        if path == "/products.json":
            ids = [i for i in query.get("ids", [""])[0].split(",") if i]
            return self.send(200, "application/json", shop.products_json(ids),
                             [("Cache-Control", "public, max-age=300")])
        m = re.fullmatch(r"/img/(.+)\.svg", path)
        if m and m.group(1) in shop.catalog.products:
            return self.send(200, "image/svg+xml", product_svg(shop.catalog.products[m.group(1)]),
                             [("Cache-Control", "public, max-age=86400")])
        if path == "/favicon.ico":
            return self.send(204, "image/x-icon", b"", [("Cache-Control", "public, max-age=86400")])
        if path == "/" or path.startswith("/p/"):
            pid = path[3:] if path.startswith("/p/") else None
            if pid is not None and pid not in shop.catalog.products:
                return self.not_found()
            vid, set_cookie = self.visitor(query)
            body = shop.product(pid, vid) if pid is not None else shop.home(vid)
            return self.send(200, "text/html; charset=utf-8", body, [("Cache-Control", "no-store")] + set_cookie)
        if path.startswith("/c/") and path[3:] in shop.catalog.categories and path[3:]:
            vid, set_cookie = self.visitor(query)
            return self.send(200, "text/html; charset=utf-8", shop.category(path[3:], vid),
                             [("Cache-Control", "no-store")] + set_cookie)
        return self.not_found()

    def static(self, f):
        """The widget's files: a year of caching (the page links them with
        ?v=<hash>, so a new file gets a new URL), and an ETag for
        revalidation by caches that ignore the lifetime."""
        headers = [("Cache-Control", "public, max-age=%d, immutable" % STATIC_MAX_AGE), ("ETag", f.etag)]
        inm = self.headers.get("If-None-Match") or ""
        if f.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
            self.send_response(304)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send(200, f.ctype, f.body, headers)

    def proxy(self, body=None):
        """/v1/* to recedge, with the browser's request headers (cookies
        included) and recedge's status, type, caching and body back."""
        shop = self.shop
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = "%s:%d" % (shop.edge_host, shop.edge_port)
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "http"
        headers["Via"] = "1.1 edgerec-demo-shop"
        try:
            conn = http.client.HTTPConnection(shop.edge_host, shop.edge_port, timeout=PROXY_TIMEOUT_S)
            conn.request(self.command, self.path, body=body, headers=headers)
            res = conn.getresponse()
            body = res.read()
            status = res.status
            keep = [(k, v) for k, v in res.getheaders() if k.lower() in ("cache-control", "content-type")]
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            body = json.dumps({"error": "bad_gateway", "reason": "recedge: %s" % e.__class__.__name__}).encode()
            return self.send(502, "application/json", body, [("Cache-Control", "no-store")])
        ctype = dict((k.lower(), v) for k, v in keep).get("content-type", "application/octet-stream")
        self.send(status, ctype, body, [(k, v) for k, v in keep if k.lower() != "content-type"])


def main():
    ap = argparse.ArgumentParser(description="edgerec demo shop (ops/shop/README.md)")
    ap.add_argument("--catalog", required=True, help="recgen's catalog.csv")
    ap.add_argument("--edge", help="recedge's HOST:PORT, proxied under /v1/ (required unless --catalog-only)")
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    ap.add_argument("--widget-dir", help="folder holding edgerec-widget.js and .css (default edge/widget)")
    ap.add_argument("--write-catalog", metavar="CSV", help="write the catalog with display columns here")
    ap.add_argument("--catalog-only", action="store_true",
                    help="write --write-catalog with site-relative URLs and exit without serving")
    ap.add_argument("--currency", default="EUR", help="ISO 4217 code of the prices (default EUR)")
    ap.add_argument("--n", type=int, default=8, help="items per widget (default 8)")
    ap.add_argument("--endpoint", default="/v1/recs",
                    help="the widget's /v1/recs URL (default /v1/recs: this shop's proxy; "
                         "http://HOST:PORT/v1/recs calls recedge cross-origin)")
    ap.add_argument("--widget-timeout", type=int, default=300, metavar="MS",
                    help="the widget's timeout per request (default 300, the widget's own default)")
    ap.add_argument("--home-products", type=int, default=24, help="products listed on the home page and per category (default 24)")
    ap.add_argument("--access-log", action="store_true", help="log every request on stderr")
    args = ap.parse_args()
    if args.catalog_only:
        if not args.write_catalog:
            ap.error("--catalog-only needs --write-catalog")
        Catalog(args.catalog, args.currency).write_extended(args.write_catalog, "")
        return
    if not args.edge:
        ap.error("--edge is required")

    shop = Shop(args)
    Handler.shop = shop
    Handler.quiet = not args.access_log
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    shop.base = "http://%s:%d" % (host if ":" not in host else "[%s]" % host, port)
    if args.write_catalog:
        shop.catalog.write_extended(args.write_catalog, shop.base)
    print("shop: listening on %s/ (%d products, recedge at %s:%d)" % (shop.base, len(shop.catalog.order),
                                                                       shop.edge_host, shop.edge_port), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
