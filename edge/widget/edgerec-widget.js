/*
 * edgerec-widget.js - a recommendation strip for shop pages (no
 * dependencies; see edge/widget/README.md for how a shop embeds it).
 *
 *   <div data-edgerec-widget data-products="p42" data-n="8"
 *        data-cookie="shop_vid" data-catalog="/products.json?ids={ids}"></div>
 *   <div data-edgerec-widget data-category="shoes" data-exclude="p7,p9"></div>
 *   <script src="/static/edgerec-widget.js" defer></script>
 *
 * Each [data-edgerec-widget] element stays empty until it has items to
 * show. When it scrolls near the viewport it asks recedge's /v1/recs
 * (schemas/http.md) with fields=title,image_url,price,currency,url; items
 * that come back without those fields are completed from the shop's
 * optional product-data URL (data-catalog), else shown by id. A call that
 * takes longer than the timeout (default 300 ms) is aborted; a timeout, an
 * error status, a network failure or an empty answer leaves the element
 * hidden. The widget never writes to the console and never throws out of
 * its own code.
 *
 * A click on a recommended item sends a click beacon to recedge's
 * /v1/event with navigator.sendBeacon (rec_id of the answer, the product,
 * the visitor id when known), without delaying the navigation; it is off
 * when the answer carries no rec_id or data-events is "off".
 *
 * State is reported on the element for shops and tests:
 * data-edgerec-state = waiting | loading | shown | hidden, and
 * data-edgerec-reason when hidden (timeout, network, http-NNN, empty,
 * bad-answer, unsupported: a browser without fetch); data-edgerec-rec-id
 * (the answer's rec_id) and data-edgerec-clicks (beacons sent) once shown.
 */
(function () {
    "use strict";

    var FIELDS = "title,image_url,price,currency,url";
    var DEFAULTS = {
        endpoint: "/v1/recs",  /* recedge, or the shop's proxy to it */
        n: 8,
        timeoutMs: 300,        /* per request: recedge, then the catalog */
        cookie: "",            /* name of the shop cookie holding the visitor id */
        visitor: "",           /* the visitor id itself (wins over cookie) */
        catalog: "",           /* product-data URL; "{ids}" is replaced by the ids */
        link: "",              /* link template for items without a url, "{id}" replaced */
        heading: "Recommended for you",
        loc: "",
        device: "",
        category: "",          /* only these categories, comma-separated (category=) */
        exclude: "",           /* never these products, comma-separated (exclude=) */
        rootMargin: "200px",   /* start loading this far before the strip is visible */
        events: ""             /* /v1/event URL; "": derived from endpoint; "off": no beacons */
    };

    /* Page-wide settings: window.EdgerecConfig = {endpoint: ..., cookie: ...}. */
    function globalConfig() {
        var g = window.EdgerecConfig;
        return g && typeof g === "object" ? g : {};
    }

    /* Settings of one element: data-* attributes over the page-wide ones. */
    function configOf(el) {
        var g = globalConfig(), d = el.dataset, c = {};
        var k;
        for (k in DEFAULTS)
            c[k] = Object.prototype.hasOwnProperty.call(g, k) ? g[k] : DEFAULTS[k];
        var attrs = {
            endpoint: d.endpoint, n: d.n, timeoutMs: d.timeout, cookie: d.cookie, visitor: d.visitor,
            catalog: d.catalog, link: d.link, heading: d.heading, loc: d.loc, device: d.device,
            events: d.events, category: d.category, exclude: d.exclude
        };
        for (k in attrs)
            if (attrs[k] !== undefined)
                c[k] = attrs[k];
        c.products = d.products || "";
        c.n = Math.max(1, Math.min(100, parseInt(c.n, 10) || DEFAULTS.n));
        c.timeoutMs = Math.max(1, parseInt(c.timeoutMs, 10) || DEFAULTS.timeoutMs);
        return c;
    }

    function readCookie(name) {
        if (!name)
            return "";
        var parts = document.cookie ? document.cookie.split(";") : [];
        for (var i = 0; i < parts.length; i++) {
            var p = parts[i].replace(/^\s+/, "");
            var eq = p.indexOf("=");
            if (eq > 0 && p.slice(0, eq) === name) {
                try {
                    return decodeURIComponent(p.slice(eq + 1));
                } catch (e) {
                    return p.slice(eq + 1);
                }
            }
        }
        return "";
    }

    function visitorOf(c) {
        return c.visitor || readCookie(c.cookie);
    }

    /* A comma-separated list parameter: split on ",", empty elements
     * dropped, at most max sent (recedge's limits), each encoded. */
    function listParam(q, name, value, max) {
        if (!value)
            return;
        var ids = String(value).split(",").filter(function (s) { return s.length > 0; });
        if (ids.length)
            q.push(name + "=" + ids.slice(0, max).map(encodeURIComponent).join(","));
    }

    /* The /v1/recs URL. */
    function recsUrl(c, withFields) {
        var q = [];
        var visitor = visitorOf(c);
        if (visitor)
            q.push("cookie=" + encodeURIComponent(visitor));
        listParam(q, "products", c.products, 20);
        listParam(q, "category", c.category, 10);
        listParam(q, "exclude", c.exclude, 50);
        if (c.loc)
            q.push("loc=" + encodeURIComponent(c.loc));
        if (c.device)
            q.push("device=" + encodeURIComponent(c.device));
        q.push("n=" + c.n);
        if (withFields)
            q.push("fields=" + FIELDS);
        return c.endpoint + (c.endpoint.indexOf("?") < 0 ? "?" : "&") + q.join("&");
    }

    /* The /v1/event URL: data-events, else the endpoint with its last path
     * segment "recs" replaced by "event" (/v1/recs -> /v1/event, also on
     * recedge's own host); "" when off or not derivable. */
    function eventsUrl(c) {
        if (c.events === "off")
            return "";
        if (c.events)
            return c.events;
        var base = String(c.endpoint).split("?")[0];
        return /\/recs$/.test(base) ? base.replace(/recs$/, "event") : "";
    }

    /* A click beacon for product, as form-urlencoded text (sendBeacon
     * sends a string as text/plain; recedge reads either). Never throws;
     * returns whether the browser took it. */
    function sendClick(c, recId, product) {
        var url = eventsUrl(c);
        if (!url || !/^[0-9a-f]{32}$/.test(recId))
            return false;
        var body = "rec_id=" + recId + "&product=" + encodeURIComponent(product) + "&type=click";
        var visitor = visitorOf(c);
        if (visitor)
            body += "&cookie=" + encodeURIComponent(visitor);
        try {
            if (navigator.sendBeacon)
                return navigator.sendBeacon(url, body);
            fetch(url, {method: "POST", body: body, keepalive: true, credentials: "omit"}).catch(function () {});
            return true;
        } catch (e) {
            return false;
        }
    }

    /* One listener per strip: a click (or middle click) inside an item
     * sends its beacon; the navigation goes on as it would. */
    function trackClicks(root, c, list, recId) {
        var sent = 0;
        function onClick(ev) {
            var t = ev.target;
            while (t && t !== list && !(t.classList && t.classList.contains("edgerec-item")))
                t = t.parentNode;
            if (!t || t === list)
                return;
            if (sendClick(c, recId, t.getAttribute("data-product")))
                root.setAttribute("data-edgerec-clicks", String(++sent));
        }
        list.addEventListener("click", onClick);
        list.addEventListener("auxclick", function (ev) {
            if (ev.button === 1)
                onClick(ev);
        });
    }

    /* fetch(url) as JSON within ms; rejects with an Error whose .reason is
     * timeout, network, http-NNN or bad-answer. */
    function getJson(url, ms) {
        var ctl = typeof AbortController === "function" ? new AbortController() : null;
        var timer = setTimeout(function () {
            if (ctl)
                ctl.abort();
        }, ms);
        function fail(reason) {
            var e = new Error(reason);
            e.reason = reason;
            throw e;
        }
        return fetch(url, {signal: ctl ? ctl.signal : undefined, credentials: "same-origin",
                           headers: {"Accept": "application/json"}})
            .then(function (res) {
                if (!res.ok)
                    fail("http-" + res.status);
                return res.json().catch(function (err) {
                    fail(err && err.name === "AbortError" ? "timeout" : "bad-answer");
                });
            }, function (err) {
                fail(err && err.name === "AbortError" ? "timeout" : "network");
            })
            .then(function (body) {
                clearTimeout(timer);
                return body;
            }, function (err) {
                clearTimeout(timer);
                throw err;
            });
    }

    /* Ask recedge with fields=; a recedge without that parameter answers
     * 400, and is asked again without it. */
    function fetchRecs(c) {
        return getJson(recsUrl(c, true), c.timeoutMs).catch(function (err) {
            if (err.reason !== "http-400")
                throw err;
            return getJson(recsUrl(c, false), c.timeoutMs);
        });
    }

    function hasFields(item) {
        return typeof item.title === "string" && item.title.length > 0;
    }

    /* Complete items that lack fields from the shop's product data:
     * {"ID": {"title": ..., ...}, ...} or [{"product": "ID", ...}, ...].
     * Failure is not fatal: the items are then shown by id. */
    function completeItems(c, items) {
        var missing = items.filter(function (it) { return !hasFields(it); });
        if (!missing.length || !c.catalog)
            return Promise.resolve(items);
        var ids = missing.map(function (it) { return encodeURIComponent(it.product); }).join(",");
        var url = c.catalog.replace("{ids}", ids);
        return getJson(url, c.timeoutMs).then(function (data) {
            var byId = {};
            if (Array.isArray(data)) {
                data.forEach(function (p) {
                    if (p && typeof p.product === "string")
                        byId[p.product] = p;
                });
            } else if (data && typeof data === "object") {
                byId = data.products && typeof data.products === "object" ? data.products : data;
            }
            return items.map(function (it) {
                var p = Object.prototype.hasOwnProperty.call(byId, it.product) ? byId[it.product] : null;
                if (hasFields(it) || !p || typeof p !== "object")
                    return it;
                var out = {product: it.product, score: it.score, source: it.source};
                ["title", "image_url", "price", "currency", "url"].forEach(function (f) {
                    if (p[f] !== undefined && p[f] !== null)
                        out[f] = p[f];
                });
                return out;
            });
        }, function () {
            return items;
        });
    }

    function formatPrice(price, currency) {
        var v = typeof price === "number" ? price : parseFloat(price);
        if (!isFinite(v))
            return "";
        try {
            if (currency)
                return new Intl.NumberFormat(document.documentElement.lang || undefined,
                                             {style: "currency", currency: String(currency)}).format(v);
        } catch (e) {
            /* an unknown currency code: plain number below */
        }
        return v.toFixed(2) + (currency ? " " + currency : "");
    }

    /* Only http(s) and relative URLs are used as links and pictures. */
    function safeUrl(u) {
        if (typeof u !== "string" || !u)
            return "";
        var s = u.replace(/^\s+/, "").toLowerCase();
        if (/^[a-z][a-z0-9+.-]*:/.test(s) && s.indexOf("http:") !== 0 && s.indexOf("https:") !== 0)
            return "";
        return u;
    }

    function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls)
            e.className = cls;
        if (text)
            e.textContent = text;
        return e;
    }

    /* One <li>: a link (when the item has a url or the link template
     * applies) holding the picture, the title and the price. */
    function itemNode(c, it) {
        var li = el("li", "edgerec-item");
        li.setAttribute("data-product", it.product);
        var href = safeUrl(it.url) || (c.link ? c.link.replace("{id}", encodeURIComponent(it.product)) : "");
        var box = href ? el("a", "edgerec-link") : el("div", "edgerec-link");
        if (href)
            box.href = href;
        var img = safeUrl(it.image_url);
        if (img) {
            var pic = el("img", "edgerec-img");
            pic.src = img;
            pic.alt = "";            /* the title beside it names the product */
            pic.loading = "lazy";
            pic.decoding = "async";
            pic.width = 160;
            pic.height = 160;
            box.appendChild(pic);
        } else {
            box.appendChild(el("span", "edgerec-img edgerec-noimg"));
        }
        var title = hasFields(it) ? it.title : it.product;
        box.appendChild(el("span", "edgerec-title", title));
        var price = formatPrice(it.price, it.currency);
        if (price)
            box.appendChild(el("span", "edgerec-price", price));
        li.appendChild(box);
        return li;
    }

    function hide(root, reason) {
        root.hidden = true;
        root.setAttribute("data-edgerec-state", "hidden");
        root.setAttribute("data-edgerec-reason", reason);
    }

    function render(root, c, answer, items) {
        var headingId = "edgerec-h-" + Math.random().toString(36).slice(2, 10);
        var section = el("section", "edgerec");
        section.setAttribute("aria-labelledby", headingId);
        var h = el("h2", "edgerec-heading", c.heading);
        h.id = headingId;
        section.appendChild(h);
        var ul = el("ul", "edgerec-list");
        ul.setAttribute("role", "list"); /* list-style:none drops the role in some screen readers */
        items.forEach(function (it) {
            ul.appendChild(itemNode(c, it));
        });
        section.appendChild(ul);
        while (root.firstChild)
            root.removeChild(root.firstChild);
        root.appendChild(section);
        root.setAttribute("data-edgerec-route", String(answer.route || ""));
        root.setAttribute("data-edgerec-version", String(answer.version || ""));
        root.setAttribute("data-edgerec-count", String(items.length));
        var recId = typeof answer.rec_id === "string" ? answer.rec_id : "";
        if (recId) {
            root.setAttribute("data-edgerec-rec-id", recId);
            trackClicks(root, c, ul, recId);
        }
        root.setAttribute("data-edgerec-state", "shown");
        root.hidden = false;
    }

    function load(root) {
        if (root.getAttribute("data-edgerec-state") !== "waiting")
            return;
        root.setAttribute("data-edgerec-state", "loading");
        var c = configOf(root);
        fetchRecs(c)
            .then(function (answer) {
                if (!answer || !Array.isArray(answer.items)) {
                    var e = new Error("bad-answer");
                    e.reason = "bad-answer";
                    throw e;
                }
                var items = answer.items.filter(function (it) {
                    return it && typeof it.product === "string";
                }).slice(0, c.n);
                return completeItems(c, items).then(function (done) {
                    return {answer: answer, items: done};
                });
            })
            .then(function (r) {
                if (!r.items.length)
                    hide(root, "empty");
                else
                    render(root, c, r.answer, r.items);
            })
            .catch(function (err) {
                hide(root, (err && err.reason) || "error");
            });
    }

    function start() {
        var roots = Array.prototype.slice.call(document.querySelectorAll("[data-edgerec-widget]"));
        if (typeof fetch !== "function" || typeof Promise !== "function") {
            roots.forEach(function (root) {
                hide(root, "unsupported");
            });
            return;
        }
        var observer = null;
        if (typeof IntersectionObserver === "function") {
            observer = new IntersectionObserver(function (entries) {
                entries.forEach(function (en) {
                    if (en.isIntersecting) {
                        observer.unobserve(en.target);
                        load(en.target);
                    }
                });
            }, {rootMargin: String(globalConfig().rootMargin || DEFAULTS.rootMargin)});
        }
        roots.forEach(function (root) {
            if (root.hasAttribute("data-edgerec-state"))
                return; /* started already (the script included twice) */
            /* An empty element takes no room; it is not hidden yet, since
             * an element that is display:none never intersects. */
            root.setAttribute("data-edgerec-state", "waiting");
            if (observer)
                observer.observe(root);
            else
                load(root);
        });
    }

    if (document.readyState === "loading")
        document.addEventListener("DOMContentLoaded", start);
    else
        start();
})();
