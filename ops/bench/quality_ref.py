"""ops/bench/quality_ref.py - a reference implicit ALS for ops/bench/quality.sh.

Hu, Koren, Volinsky, "Collaborative Filtering for Implicit Feedback
Datasets" (ICDM 2008), as the paper states it, written from the paper and
sharing nothing with recbuild:

    minimise  sum_{u,i} c_ui (p_ui - x_u . y_i)^2
              + lambda (sum_u |x_u|^2 + sum_i |y_i|^2)

with p_ui = 1 where r_ui > 0 (else 0), c_ui = 1 + alpha r_ui, and a
constant lambda (the paper's; recbuild scales its reg by the row's
entries). Each half-iteration solves every row exactly (no
conjugate-gradient shortcut), using the paper's speed-up:

    x_u = (Y'Y + Y'(C_u - I)Y + lambda I)^-1  Y' C_u p(u)

Y'Y is computed once per half-iteration, Y'(C_u - I)Y from the user's
observed items only: a batched LU solve of the f x f system, or, for a
row with fewer entries than factors, the same x_u through the Woodbury
identity (an n_u x n_u solve). Rows are processed in buckets of equal
padded length so that numpy does the work in batches. r_ui is what
quality_eval.py gives: the summed event weights of a (user, product) pair.

`python3 quality_ref.py` checks the solves against a direct per-row
solve (quality.sh runs it first). numpy and scipy only (Debian:
python3-numpy, python3-scipy).
"""
import numpy as np
import scipy.sparse as sp


def _plan(R, f):
    """Batches of R's rows for _half_step: (rows, idx, w, mask, length).

    Rows are bucketed by their length (rounded up to a power of two above
    32) and padded with the index of a zero item row; a batch holds at most
    ~8M doubles of gathered factors or systems.
    """
    n = np.diff(R.indptr)
    nz_rows = np.nonzero(n)[0]
    L = n[nz_rows].astype(np.int64)
    L = np.where(L <= 32, L, 1 << np.ceil(np.log2(np.maximum(L, 1))).astype(np.int64))
    batches = []
    for length in np.unique(L):
        length = int(length)
        rows = nz_rows[L == length]
        per = max(1, min(len(rows), (1 << 23) // max(length * f, f * f if length >= f else length * length)))
        for s in range(0, len(rows), per):
            rr = rows[s:s + per]
            idx = np.full((len(rr), length), R.shape[1], dtype=np.int64)
            w = np.zeros((len(rr), length))
            col = np.arange(length)
            m = col[None, :] < n[rr][:, None]
            src = (R.indptr[rr][:, None] + col[None, :])[m]
            idx[m] = R.indices[src]
            w[m] = R.data[src]
            batches.append((rr, idx, w, m, length))
    return batches


def _half_step(plan, Y, lam, alpha, out):
    """Solve every row of a plan (_plan of R: rows x items, values r_ui)
    for Y fixed; out: (rows, f) float64, overwritten (rows without entries
    get 0).

    A row with n_u observed items solves A_u = M + Y_u' D_u Y_u, with
    M = Y'Y + lambda I shared by all rows and D_u = diag(alpha r_u). Rows
    with n_u >= f solve the f x f system as it stands; shorter rows use the
    Woodbury identity, which gives the same x_u from an n_u x n_u system:
        A_u^-1 b = M^-1 b - M^-1 Y_u' (I + D_u Y_u M^-1 Y_u')^-1 D_u Y_u M^-1 b
    """
    f = Y.shape[1]
    M = Y.T @ Y + lam * np.eye(f)
    Minv = np.linalg.inv(M)
    Yz = np.vstack([Y, np.zeros((1, f))])  # the padding item: a zero row
    out[:] = 0.0
    for rr, idx, w, m, length in plan:
        B = len(rr)
        Yb = Yz[idx]                                       # (B, L, f)
        cw = alpha * w                                     # c_ui - 1 (0 on padding)
        b = np.einsum('blf,bl->bf', Yb, (1.0 + cw) * m)    # Y' C_u p(u)
        if length >= f:
            A = np.matmul(Yb.transpose(0, 2, 1), Yb * cw[:, :, None])
            A += M
            out[rr] = np.linalg.solve(A, b[:, :, None])[:, :, 0]
            continue
        Z = (Yb.reshape(-1, f) @ Minv).reshape(B, length, f)   # Y_u M^-1
        K = np.matmul(Z, Yb.transpose(0, 2, 1))                # Y_u M^-1 Y_u'
        Mb = b @ Minv
        t = np.einsum('blf,bf->bl', Yb, Mb)                    # Y_u M^-1 b
        if length == 1:
            sol = cw * t / (1.0 + cw * K[:, :, 0])
        else:
            S = cw[:, :, None] * K
            col = np.arange(length)
            S[:, col, col] += 1.0                              # I + D_u K
            sol = np.linalg.solve(S, (cw * t)[:, :, None])[:, :, 0]
        out[rr] = Mb - np.einsum('blf,bl->bf', Z, sol)


class Matrix:
    """r_ui (scipy csr, users x items) with its row plans, kept across trainings."""

    def __init__(self, R):
        R = sp.csr_matrix(R, dtype=np.float64)
        R.sum_duplicates()
        R.sort_indices()
        Rt = sp.csr_matrix(R.T)
        Rt.sort_indices()
        self.R, self.Rt, self.shape, self.plans = R, Rt, R.shape, {}

    def plan(self, f):
        if f not in self.plans:
            self.plans[f] = (_plan(self.R, f), _plan(self.Rt, f))
        return self.plans[f]


def train(R, factors, lam, alpha, iterations, seed=0):
    """R: a Matrix, or a scipy matrix of r_ui >= 0. Returns (X, Y) float64."""
    if not isinstance(R, Matrix):
        R = Matrix(R)
    users, items = R.plan(factors)
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.01, (R.shape[0], factors))
    Y = rng.normal(0, 0.01, (R.shape[1], factors))
    for _ in range(iterations):
        _half_step(users, Y, lam, alpha, X)
        _half_step(items, X, lam, alpha, Y)
    return X, Y


def top_k(X, Y, users, exclude, k=10, banned=None, chunk=2048):
    """Top-k items for each of users (row indices of X) by x_u . y_i.

    exclude: csr (users x items), nonzero = never recommend to that user;
    banned: boolean (items,) never recommended to anyone (out of stock).
    Ties by item index. Returns an int array (len(users), k).
    """
    out = np.empty((len(users), k), dtype=np.int64)
    for s in range(0, len(users), chunk):
        uu = users[s:s + chunk]
        S = X[uu] @ Y.T
        if banned is not None:
            S[:, banned] = -np.inf
        E = exclude[uu].tocoo()
        S[E.row, E.col] = -np.inf
        part = np.argpartition(-S, k, axis=1)[:, :k] if S.shape[1] > k else np.tile(np.arange(S.shape[1]), (len(uu), 1))
        ps = np.take_along_axis(S, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)
        out[s:s + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def self_test():
    """Every row of one half-step against a direct per-row solve of the
    paper's system (rows of 0 to ~20 entries, so both the f x f and the
    Woodbury paths run). Prints the largest difference; exit 1 past 1e-9."""
    rng = np.random.default_rng(1)
    worst = 0.0
    for density in (0.01, 0.05):
        R = sp.random(300, 200, density=density, random_state=3, format='csr') * 10
        R.data = np.ceil(R.data)
        R.sort_indices()
        f, lam, alpha = 16, 2.0, 3.0
        Y = rng.normal(0, 1, (200, f))
        X = np.zeros((300, f))
        _half_step(_plan(R, f), Y, lam, alpha, X)
        Rd = R.toarray()
        for u in range(300):
            c = 1 + alpha * Rd[u]
            p = (Rd[u] > 0).astype(float)
            x = np.linalg.solve(Y.T @ (c[:, None] * Y) + lam * np.eye(f), Y.T @ (c * p))
            worst = max(worst, float(np.abs(x - X[u]).max()))
    print(f'quality_ref self-test: largest difference from the direct solve {worst:.2e}')
    return worst < 1e-9


if __name__ == '__main__':
    import sys
    sys.exit(0 if self_test() else 1)
