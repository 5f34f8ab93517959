"""ops/bench/quality_eval.py - the evaluation behind ops/bench/quality.sh.

Independent of recbuild's own evaluation (--holdout is never used): this
script splits the events, writes the training events file, builds a cache
from it with recbuild, serves it with the real recedge and asks
/v1/recs?cookie=C&n=10 over HTTP for every evaluated cookie, then scores
the answers against the held-out products: recbuild with no flags
("default", which tunes: --tune auto), with --tune SECONDS ("tuned") and
with --tune off (the fixed defaults). Beside recbuild it scores the
most-popular list, recedge's list for a new visitor (the global segment
list), a reference implicit ALS (quality_ref.py, numpy/scipy, tuned on an
inner split of the training data only) and, on recgen data, the oracle of
recgen's planted truth.

    quality_eval.py run --name NAME --events FILE [--catalog FILE]
        [--truth DIR] --bin BUILD --work DIR --json OUT [options]
    quality_eval.py movielens --csv ml.csv --out events.csv
    quality_eval.py report OUT.json... (markdown tables on stdout)

Protocols (--protocols, default both):
  temporal  each cookie with >= 2 distinct purchased products loses the
            product it purchased last (latest timestamp; ties: the later
            input line), with all of its events on that product;
  random    each such cookie loses max(1, round(0.2 n)) of its n distinct
            purchased products (at most n - 1), drawn with --seed, with all
            of its events on them.
Every method is scored on the same cookies: P@10 (hits / 10), HR@10 (a hit
at all) and NDCG@10 (binary gains, ideal = min(held, 10) hits on top).
Inputs are read as plain comma-separated files with a header naming ts,
cookie, event, product (recgen's files and the MovieLens conversion; no
quoting).
"""
import os
import sys

# numpy's OpenBLAS runs on one thread here: on small batched solves its own
# threads cost up to ten times the time on a busy machine. recbuild and
# recedge get the environment this script was started with.
CHILD_ENV = dict(os.environ)
os.environ['OPENBLAS_NUM_THREADS'] = '1'

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_ref  # noqa: E402

K = 10
EVENTS = {'view': 0, 'cart': 1, 'purchase': 2}
REF_WEIGHTS = np.array([1.0, 3.0, 10.0])  # r_ui of the reference: views + 3 carts + 10 purchases


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

class Events:
    """Events as arrays; lines keeps the raw text for the training file."""

    def __init__(self, path, catalog=None):
        with open(path, encoding='utf-8') as fh:
            self.header = fh.readline()
            self.lines = fh.read().splitlines()
        cols = [c.strip() for c in self.header.rstrip('\n').split(',')]
        ci = {c: cols.index(c) for c in ('ts', 'cookie', 'event', 'product')}
        self.lines = [l for l in self.lines if l]
        n = len(self.lines)
        self.cookies, self.products = {}, {}
        u = np.empty(n, np.int64)
        p = np.empty(n, np.int64)
        e = np.empty(n, np.int8)
        ts = np.empty(n, np.int64)
        cu, cp = self.cookies, self.products
        for j, line in enumerate(self.lines):
            f = line.split(',')
            u[j] = cu.setdefault(f[ci['cookie']], len(cu))
            p[j] = cp.setdefault(f[ci['product']], len(cp))
            e[j] = EVENTS[f[ci['event']]]
            ts[j] = int(float(f[ci['ts']]))
        self.u, self.p, self.e, self.ts = u, p, e, ts
        self.line = np.arange(n)
        # Catalog: products it names join the universe; out-of-stock ones are banned for every method.
        self.in_stock = None
        self.category = {}
        if catalog:
            with open(catalog, encoding='utf-8') as fh:
                cols = fh.readline().rstrip('\n').split(',')
                pi, si, ki = cols.index('product'), cols.index('in_stock'), cols.index('category')
                stock = {}
                for line in fh:
                    f = line.rstrip('\n').split(',')
                    if len(f) <= max(pi, si, ki):
                        continue
                    stock[f[pi]] = f[si].strip().lower() in ('1', 'true', 'yes')
                    self.category[f[pi]] = f[ki]
                    cp.setdefault(f[pi], len(cp))
            self.in_stock = np.array([stock.get(pid, True) for pid in self.product_ids()], bool)
        self.n_users, self.n_items = len(cu), len(cp)

    def product_ids(self):
        ids = [None] * len(self.products)
        for pid, i in self.products.items():
            ids[i] = pid
        return ids

    def cookie_ids(self):
        ids = [None] * len(self.cookies)
        for c, i in self.cookies.items():
            ids[i] = c
        return ids


def last_purchases(u, p, e, ts, line, mask=None):
    """Per (user, product) purchased: the (ts, line) of its last purchase.

    Returns arrays users, products, ts, line sorted by user, then by
    (ts, line) ascending within the user.
    """
    m = e == 2
    if mask is not None:
        m &= mask
    uu, pp, tt, ll = u[m], p[m], ts[m], line[m]
    o = np.lexsort((ll, tt, pp, uu))
    uu, pp, tt, ll = uu[o], pp[o], tt[o], ll[o]
    last = np.ones(len(uu), bool)
    last[:-1] = (uu[:-1] != uu[1:]) | (pp[:-1] != pp[1:])
    uu, pp, tt, ll = uu[last], pp[last], tt[last], ll[last]
    o = np.lexsort((ll, tt, uu))
    return uu[o], pp[o], tt[o], ll[o]


def split(ev, protocol, seed, mask=None):
    """Held-out (user -> sorted product list) and the training mask of the events."""
    uu, pp, _, _ = last_purchases(ev.u, ev.p, ev.e, ev.ts, ev.line, mask)
    bounds = np.flatnonzero(np.r_[True, uu[1:] != uu[:-1], True])
    rng = np.random.default_rng(seed)
    held = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = b - a
        if n < 2:
            continue
        user = int(uu[a])
        if protocol == 'temporal':
            held[user] = [int(pp[b - 1])]
        else:
            k = min(n - 1, max(1, int(math.floor(0.2 * n + 0.5))))
            prods = np.sort(pp[a:b])
            held[user] = sorted(int(x) for x in rng.choice(prods, size=k, replace=False))
    keys = np.array([u * ev.n_items + p for u, ps in held.items() for p in ps], np.int64)
    train = ~np.isin(ev.u * ev.n_items + ev.p, keys)
    if mask is not None:
        train &= mask
    return held, train


def user_item(ev, mask, values):
    """csr (users x items) of summed values over the masked events (no zero entries)."""
    m = sp.csr_matrix((values[mask], (ev.u[mask], ev.p[mask])), shape=(ev.n_users, ev.n_items))
    m.eliminate_zeros()
    return m


def scores(lists, held_sets):
    """Mean P@K, NDCG@K, HR@K over users (lists: product lists, best first),
    the standard error of the NDCG mean and the per-user NDCG (for paired
    comparisons in the report)."""
    P = H = 0.0
    nd = []
    for lst, h in zip(lists, held_sets):
        hits = [j for j, x in enumerate(lst[:K]) if x in h]
        P += len(hits) / K
        H += 1.0 if hits else 0.0
        ideal = sum(1.0 / math.log2(j + 2) for j in range(min(len(h), K)))
        nd.append(sum(1.0 / math.log2(j + 2) for j in hits) / ideal)
    n = max(1, len(lists))
    nd = np.array(nd) if nd else np.zeros(1)
    return {'p': P / n, 'ndcg': float(nd.mean()), 'hr': H / n,
            'ndcg_se': float(nd.std(ddof=1) / math.sqrt(len(nd))) if len(nd) > 1 else 0.0,
            'user_ndcg': [round(float(x), 5) for x in nd]}


# ---------------------------------------------------------------- baselines

def popular_lists(ev, train, users, exclude):
    """Training purchases count ranking (distinct buyers; ties: training
    events, then product order), skipping out-of-stock products and the
    user's training purchases."""
    m = train & (ev.e == 2)
    pairs = np.unique(ev.u[m] * ev.n_items + ev.p[m])
    buyers = np.bincount(pairs % ev.n_items, minlength=ev.n_items)
    events = np.bincount(ev.p[train], minlength=ev.n_items)
    order = np.lexsort((np.arange(ev.n_items), -events, -buyers))
    if ev.in_stock is not None:
        order = order[ev.in_stock[order]]
    head = order[:K + 200].tolist()
    out = []
    for user in users:
        ex = set(exclude.indices[exclude.indptr[user]:exclude.indptr[user + 1]].tolist())
        lst = [x for x in head if x not in ex][:K]
        if len(lst) < K:
            lst = [x for x in order.tolist() if x not in ex][:K]
        out.append(lst)
    return out


def oracle_lists(ev, truth, users, exclude, popular):
    """recgen's planted truth: the cookie's favourite categories and weights
    times the product's share within its category, same exclusions, filled
    from the most-popular list (as the earlier quality.sh's oracle)."""
    share, cat = {}, {}
    with open(os.path.join(truth, 'truth_products.csv')) as fh:
        cols = fh.readline().strip().split(',')
        pi, ci, si = cols.index('product'), cols.index('category'), cols.index('expected_share')
        for line in fh:
            f = line.strip().split(',')
            if f[pi] in ev.products:
                share[ev.products[f[pi]]] = float(f[si])
                cat[ev.products[f[pi]]] = f[ci]
    catshare, bycat = {}, {}
    for p, s in share.items():
        catshare[cat[p]] = catshare.get(cat[p], 0.0) + s
        bycat.setdefault(cat[p], []).append(p)
    for c in bycat:
        bycat[c].sort(key=lambda p: -share[p])
    taste = {}
    with open(os.path.join(truth, 'truth_cookies.csv')) as fh:
        cols = fh.readline().strip().split(',')
        ki, gi, wi = cols.index('cookie'), cols.index('categories'), cols.index('weights')
        for line in fh:
            f = line.strip().split(',')
            if f[ki] in ev.cookies:
                taste[ev.cookies[f[ki]]] = list(zip(f[gi].split('|'), map(float, f[wi].split('|'))))
    ok = ev.in_stock if ev.in_stock is not None else np.ones(ev.n_items, bool)
    out = []
    for user, pop in zip(users, popular):
        ex = set(exclude.indices[exclude.indptr[user]:exclude.indptr[user + 1]].tolist())
        cands = []
        for c, w in taste.get(user, []):
            n = 0
            for p in bycat.get(c, []):
                if p in ex or not ok[p]:
                    continue
                cands.append((-w * share[p] / catshare[c], p))
                n += 1
                if n >= K:
                    break
        lst = [p for _, p in sorted(cands)[:K]]
        lst += [p for p in pop if p not in lst][:K - len(lst)]
        out.append(lst)
    return out


# ---------------------------------------------------------------- reference ALS

def ref_lists(X, Y, users, exclude, ev):
    banned = ~ev.in_stock if ev.in_stock is not None else None
    return quality_ref.top_k(X, Y, np.array(users, np.int64), exclude, K, banned).tolist()


def reference(ev, train, users, factors, regs, alphas, iters, final_iters, seed=0):
    """Tune on the inner split of the training events, train on all of them.

    The grid: every (reg, alpha) at factors[0], then the other factor
    counts at the best (reg, alpha); the best validation NDCG@10 (then
    HR@10, then the earlier trial) wins.
    """
    r = REF_WEIGHTS[ev.e]
    purchase_w = (ev.e == 2).astype(np.float64)
    # Inner split: each user's latest remaining purchase, with all its events.
    vheld, vtrain = split(ev, 'temporal', 0, mask=train)
    vusers = sorted(vheld)
    Rv = quality_ref.Matrix(user_item(ev, vtrain, r))  # row plans kept across the trials
    Bv = user_item(ev, vtrain, purchase_w)
    vsets = [set(vheld[u]) for u in vusers]
    t0 = time.time()
    trials = []

    def trial(f, lam, alpha):
        t = time.time()
        X, Y = quality_ref.train(Rv, f, lam, alpha, iters, seed=seed)
        s = scores(ref_lists(X, Y, vusers, Bv, ev), vsets)
        trials.append({'factors': f, 'reg': lam, 'alpha': alpha, 'iterations': iters,
                       'val_ndcg': s['ndcg'], 'val_hr': s['hr'], 'seconds': time.time() - t})
        log(f'  reference f={f} reg={lam:g} alpha={alpha:g}: validation NDCG@10 {s["ndcg"]:.4f} '
            f'HR@10 {s["hr"]:.4f} ({time.time() - t:.1f}s)')

    def best():
        return max(enumerate(trials), key=lambda it: (it[1]['val_ndcg'], it[1]['val_hr'], -it[0]))[1]

    for lam in regs:
        for alpha in alphas:
            trial(factors[0], lam, alpha)
    b = best()
    for f in factors[1:]:
        trial(f, b['reg'], b['alpha'])
    b = best()
    grid_s = time.time() - t0
    t = time.time()
    R = user_item(ev, train, r)
    Bt = user_item(ev, train, purchase_w)
    X, Y = quality_ref.train(R, b['factors'], b['reg'], b['alpha'], final_iters, seed=seed)
    lists = ref_lists(X, Y, users, Bt, ev)
    train_s = time.time() - t
    return lists, {'params': {k: b[k] for k in ('factors', 'reg', 'alpha')}, 'iterations': final_iters, 'seed': seed,
                   'val_users': len(vusers), 'val_ndcg': b['val_ndcg'], 'grid_s': grid_s,
                   'train_s': train_s, 'trials': trials}


# ---------------------------------------------------------------- recbuild + recedge

def recbuild_has(binary, flag):
    try:
        out = subprocess.run([binary, '--help'], capture_output=True, text=True, timeout=30,
                             env=CHILD_ENV).stdout
    except OSError:
        return False
    return re.search(r'(^|\s)' + re.escape(flag) + r'\b', out) is not None


class Edge:
    """The real recedge on a free loopback port, asked over one keep-alive connection."""

    def __init__(self, binary, root, logpath):
        self.logf = open(logpath, 'w')
        self.proc = subprocess.Popen([binary, '--root', root, '--bind', '127.0.0.1', '--port', '0',
                                      '--threads', '1', '--poll-ms', '1000', '--idle-timeout', '0'],
                                     stdout=subprocess.DEVNULL, stderr=self.logf, env=CHILD_ENV)
        self.logpath = logpath
        self.port = None
        deadline = time.time() + 30
        while self.port is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('recedge did not start: ' + open(logpath).read()[-2000:])
            m = re.search(r'event=listen .*?port=(\d+)', open(logpath).read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.05)
        self.conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        while True:
            status, _ = self.get('/readyz')
            if status == 200:
                break
            if time.time() > deadline:
                raise RuntimeError('recedge not ready: ' + open(logpath).read()[-2000:])
            time.sleep(0.1)

    def get(self, path):
        for attempt in (0, 1):
            try:
                self.conn.request('GET', path)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
                self.conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)

    def recs(self, cookie=None):
        q = {'n': str(K)}
        if cookie is not None:
            q['cookie'] = cookie
        status, body = self.get('/v1/recs?' + urllib.parse.urlencode(q, quote_via=urllib.parse.quote))
        if status != 200:
            raise RuntimeError(f'/v1/recs for {cookie!r}: {status} {body[:200]!r}')
        return json.loads(body)

    def stop(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def build_and_serve(args, ev, name, train_file, users, extra, work):
    """recbuild on the training file, then recedge's answers for users."""
    root = os.path.join(work, name + '.cache')
    subprocess.run(['rm', '-rf', root], check=True)
    cmd = [os.path.join(args.bin, 'builder', 'recbuild'), '--events', train_file]
    if args.catalog:
        cmd += ['--catalog', args.catalog]
    cmd += ['--out', root, '--progress', 'never'] + extra + shlex.split(args.recbuild_flags)
    logpath = os.path.join(work, name + '.recbuild.log')
    t = time.time()
    with open(logpath, 'w') as lf:
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=lf, env=CHILD_ENV).returncode
    build_s = time.time() - t
    if rc != 0:
        raise RuntimeError(f'recbuild exited {rc}: ' + open(logpath).read()[-3000:])
    log(f'  {name}: recbuild {build_s:.1f}s: {" ".join(cmd[1:])}')
    edge = Edge(os.path.join(args.bin, 'edge', 'recedge'), root, os.path.join(work, name + '.recedge.log'))
    ids = ev.cookie_ids()
    lists, routes = [], {}
    t = time.time()
    try:
        for user in users:
            d = edge.recs(ids[user])
            routes[d['route']] = routes.get(d['route'], 0) + 1
            lists.append([ev.products.get(it['product'], -1) for it in d['items']])
        glob = [ev.products.get(it['product'], -1) for it in edge.recs()['items']]
    finally:
        edge.stop()
    http_s = time.time() - t
    info = {'build_s': build_s, 'http_s': http_s, 'routes': routes, 'command': cmd[1:]}
    # recbuild's own lines about the parameters it used and its tuning, if it logs them.
    with open(logpath) as fh:
        for line in fh:
            m = re.search(r'event=(params|tune\.best|tune) (.*)', line.strip())
            if m:
                kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2)))
                info['log_' + m.group(1).replace('.', '_')] = kv
    tb = info.get('log_tune_best')
    if tb and 'seconds' in tb:
        info['tune_s'] = float(tb['seconds'])
    subprocess.run(['rm', '-rf', root], check=True)
    return lists, glob, info


def cmd_run(args):
    os.makedirs(args.work, exist_ok=True)
    t = time.time()
    ev = Events(args.events, args.catalog)
    log(f'{args.name}: {len(ev.lines)} events, {ev.n_users} cookies, {ev.n_items} products '
        f'(read in {time.time() - t:.1f}s)')
    recbuild = os.path.join(args.bin, 'builder', 'recbuild')
    can_tune = recbuild_has(recbuild, '--tune')
    results = []
    for protocol in args.protocols.split(','):
        held, train = split(ev, protocol, args.seed)
        users = sorted(held)
        sets = [set(held[u]) for u in users]
        train_file = os.path.join(args.work, f'train-{protocol}.csv')
        with open(train_file, 'w', encoding='utf-8') as fh:
            fh.write(ev.header if ev.header.endswith('\n') else ev.header + '\n')
            fh.write('\n'.join(ev.lines[j] for j in np.flatnonzero(train)))
            fh.write('\n')
        bought = user_item(ev, train, (ev.e == 2).astype(np.float64))
        oos = 0
        if ev.in_stock is not None:
            oos = sum(1 for s in sets if not any(ev.in_stock[p] for p in s))
        res = {'data': args.name, 'protocol': protocol, 'seed': args.seed, 'users': len(users),
               'held': sum(len(s) for s in sets), 'train_events': int(train.sum()), 'events': len(ev.lines),
               'cookies': ev.n_users, 'products': ev.n_items, 'users_all_held_out_of_stock': oos,
               'methods': {}}
        log(f'{args.name} / {protocol}: {len(users)} cookies evaluated, {res["held"]} products held out, '
            f'{res["train_events"]} training events')
        M = res['methods']
        lists, glob, info = build_and_serve(args, ev, f'{protocol}-default', train_file, users, [], args.work)
        M['default'] = {**scores(lists, sets), **info}
        M['new visitor'] = {**scores([glob] * len(users), sets), 'note': 'global list of the default build'}
        if can_tune and args.tune > 0:
            tune_out = os.path.join(args.work, f'{protocol}-tuned.params')
            extra = ['--tune', str(args.tune), '--tune-out', tune_out]
            if args.tune_configs:
                extra += ['--tune-configs', str(args.tune_configs)]
            lists, _, info = build_and_serve(args, ev, f'{protocol}-tuned', train_file, users, extra, args.work)
            if os.path.exists(tune_out):  # schemas/params.md: name = value lines, '#' comments
                with open(tune_out) as fh:
                    text = fh.read().splitlines()
                info['params_file'] = {k.strip(): v.strip() for k, v in
                                       (l.split('=', 1) for l in text if '=' in l and not l.startswith('#'))}
                info['params_file_comments'] = [l for l in text[:3] if l.startswith('#')]
            M['tuned'] = {**scores(lists, sets), **info}
        else:
            M['tuned'] = {'missing': 'recbuild has no --tune' if not can_tune else '--tune 0'}
        if can_tune:  # the fixed defaults, for what tuning buys
            lists, _, info = build_and_serve(args, ev, f'{protocol}-tune-off', train_file, users,
                                             ['--tune', 'off'], args.work)
            M['tune off'] = {**scores(lists, sets), **info}
        pop = popular_lists(ev, train, users, bought)
        M['most popular'] = scores(pop, sets)
        if args.truth:
            M['oracle'] = scores(oracle_lists(ev, args.truth, users, bought, pop), sets)
        if args.ref_factors:
            lists, info = reference(ev, train, users, [int(x) for x in args.ref_factors.split(',')],
                                    [float(x) for x in args.ref_reg.split(',')],
                                    [float(x) for x in args.ref_alpha.split(',')], args.ref_iters, args.ref_final_iters,
                                    args.ref_seed)
            M['reference'] = {**scores(lists, sets), **info}
        for name, m in M.items():
            if 'ndcg' in m:
                log(f'  {name:13s} P@10 {m["p"]:.4f}  NDCG@10 {m["ndcg"]:.4f}  HR@10 {m["hr"]:.4f}')
        results.append(res)
        os.remove(train_file)
    with open(args.json, 'w') as fh:
        json.dump(results, fh, indent=1)


# ---------------------------------------------------------------- report

def fmt_params(m):
    p = m.get('params')
    if isinstance(p, dict):
        return ', '.join(f'{k} {v:g}' for k, v in p.items())
    if isinstance(p, str):
        return ' '.join(p.split())[:200]
    return ''


def fmt_recbuild_params(lp):
    """recbuild's event=params line, short: source, f, reg, alpha, it, weights, half-life."""
    if not lp:
        return ''
    g = lp.get
    return (f'; {g("source", "?")}: f {g("factors")}, reg {g("reg")}, alpha {g("alpha")}, it {g("iterations")}, '
            f'w {g("weight_view")}/{g("weight_cart")}/{g("weight_purchase")}, half-life {g("half_life_days")} d')


def cmd_report(args):
    res = []
    for path in args.json:
        res += json.load(open(path))
    checks = []
    for r in res:
        M = r['methods']
        print(f'\n### {r["data"]}, {r["protocol"]} split\n')
        print(f'{r["events"]:,} events, {r["cookies"]:,} cookies, {r["products"]:,} products; '
              f'{r["users"]:,} cookies evaluated, {r["held"]:,} products held out, '
              f'{r["train_events"]:,} training events'
              + (f'; {r["users_all_held_out_of_stock"]} evaluated cookies hold out only out-of-stock products'
                 if r['users_all_held_out_of_stock'] else '') + '.\n')
        print('| method | P@10 | NDCG@10 (± 1 SE) | HR@10 | time | notes |')
        print('|---|---:|---:|---:|---:|---|')
        for name in ('default', 'tuned', 'tune off', 'most popular', 'reference', 'new visitor', 'oracle'):
            m = M.get(name)
            if m is None:
                continue
            if 'ndcg' not in m:
                print(f'| {name} | - | - | - | - | {m.get("missing", "")} |')
                continue
            tm, note = '', ''
            if name in ('default', 'tuned', 'tune off'):
                tm = f'{m["build_s"]:.0f} s'
                if 'tune_s' in m:
                    tm += f' (tuning {m["tune_s"]:.0f} s)'
                cf = m.get('routes', {}).get('cf', 0)
                note = f'route cf for {cf}/{r["users"]}'
                note += fmt_recbuild_params(m.get('log_params'))
                tb = m.get('log_tune_best')
                if tb:
                    note += f'; {tb.get("trials", "?")} trials, budget_hit {tb.get("budget_hit", "?")}'
            elif name == 'reference':
                tm = f'{m["grid_s"]:.0f} + {m["train_s"]:.0f} s'
                note = f'{len(m["trials"])} trials x {m["trials"][0]["iterations"]} it on ' \
                       f'{m["val_users"]} validation cookies; chose {fmt_params(m)}, {m["iterations"]} it' + \
                       (f'; seed {m["seed"]}' if m.get('seed') else '')
            elif name == 'new visitor':
                note = 'default build, no cookie'
            se = f' ± {m["ndcg_se"]:.4f}' if 'ndcg_se' in m else ''
            print(f'| {name} | {m["p"]:.4f} | {m["ndcg"]:.4f}{se} | {m["hr"]:.4f} | {tm} | {note} |')
        line = []

        def check(what, a, b, factor=1.0, strict=False):
            ma, mb = M.get(a, {}), M.get(b, {})
            if 'ndcg' not in ma or 'ndcg' not in mb:
                return
            x, y = ma['ndcg'], factor * mb['ndcg']
            ok = x > y if strict else x >= y
            fig = f'{x:.4f} vs {y:.4f}'
            ua, ub = ma.get('user_ndcg'), mb.get('user_ndcg')
            if ua and ub and len(ua) == len(ub) > 1:
                d = np.array(ua) - factor * np.array(ub)
                fig += f'; paired difference {d.mean():+.4f} +- {d.std(ddof=1) / math.sqrt(len(d)):.4f} (1 SE)'
            line.append((what, ok, fig))

        check('default > most popular', 'default', 'most popular', strict=True)
        check('default >= 0.9 x tuned', 'default', 'tuned', 0.9)
        check('tuned >= reference', 'tuned', 'reference')
        checks.append((r['data'], r['protocol'], line))
    print('\n### Done-when checks (NDCG@10)\n')
    print('| data | split | check | result |')
    print('|---|---|---|---|')
    for data, protocol, line in checks:
        for what, ok, fig in line:
            print(f'| {data} | {protocol} | {what} | {"met" if ok else "**missed**"} ({fig}) |')


def cmd_movielens(args):
    with open(args.csv) as fh, open(args.out, 'w') as out:
        cols = [c.strip('"') for c in fh.readline().strip().split(',')]
        ui, mi, ti = cols.index('userId'), cols.index('movieId'), cols.index('timestamp')
        out.write('ts,cookie,event,product\n')
        for line in fh:
            f = line.strip().split(',')
            out.write(f'{int(float(f[ti]))},u{int(f[ui])},purchase,m{int(f[mi])}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--name', required=True)
    r.add_argument('--events', required=True)
    r.add_argument('--catalog')
    r.add_argument('--truth', help='recgen folder with truth_*.csv: also score the oracle')
    r.add_argument('--bin', required=True)
    r.add_argument('--work', required=True)
    r.add_argument('--json', required=True)
    r.add_argument('--protocols', default='temporal,random')
    r.add_argument('--seed', type=int, default=1)
    r.add_argument('--tune', type=int, default=60)
    r.add_argument('--tune-configs', type=int, default=0,
                   help='recbuild --tune-configs of the "tuned" column (0: recbuild\'s default)')
    r.add_argument('--ref-factors', default='32,64', help='the first with every (reg, alpha), the others '
                   'with the best of those; empty: no reference')
    r.add_argument('--ref-reg', default='1,10,100,1000')
    r.add_argument('--ref-alpha', default='0.1,1,10')
    r.add_argument('--ref-iters', type=int, default=5)
    r.add_argument('--ref-final-iters', type=int, default=10)
    r.add_argument('--ref-seed', type=int, default=0, help="the reference's random starting factors (its grid and its final training)")
    r.add_argument('--recbuild-flags', default='', help='appended to every recbuild command (e.g. "--seed 3")')
    m = sub.add_parser('movielens')
    m.add_argument('--csv', required=True)
    m.add_argument('--out', required=True)
    p = sub.add_parser('report')
    p.add_argument('json', nargs='+')
    args = ap.parse_args()
    {'run': cmd_run, 'report': cmd_report, 'movielens': cmd_movielens}[args.cmd](args)


if __name__ == '__main__':
    main()
