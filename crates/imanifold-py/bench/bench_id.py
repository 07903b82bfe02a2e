"""Benchmark (not a test): imanifold vs scikit-dimension and scikit-learn / FAISS in one Python process.

10 000 x 1024 float32 points near an 8-D linear subspace (8-D Gaussian latent, random orthonormal embedding, small
isotropic noise). Times:
  * ``imanifold.id.estimate(X, ["mle", "twonn", "lpca"])`` (one kNN pass, bootstrap=0) vs skdim's ``MLE``,
    ``TwoNN`` and ``lPCA`` fitted one after another (same parameters: MLE n_neighbors=20, lPCA global);
  * 20-NN of every point among the others: ``imanifold.NearestNeighbors`` vs
    ``sklearn.neighbors.NearestNeighbors(algorithm="brute")`` and ``faiss.IndexFlatL2`` (when importable).

Run: notebooks/.venv/bin/python crates/imanifold-py/bench/bench_id.py [--n 10000] [--d 1024]
"""
import argparse
import time

import numpy as np

import imanifold


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--intrinsic", type=int, default=8)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((args.d, args.intrinsic)))
    X = (rng.standard_normal((args.n, args.intrinsic)) @ basis.T
         + 0.01 * rng.standard_normal((args.n, args.d))).astype(np.float32)
    print(f"data: {args.n} x {args.d} float32 near a {args.intrinsic}-D subspace")

    res, t_im = timed(lambda: imanifold.id.estimate(X, ["mle", "twonn", "lpca"], n_neighbors=args.k, bootstrap=0))
    print(f"imanifold.id.estimate(mle, twonn, lpca): {t_im:.2f} s  "
          + ", ".join(f"{k}={v['dimension']:.4f}" for k, v in res.items()))

    import skdim
    t_sk = 0.0
    for name, est in [("mle", skdim.id.MLE()), ("twonn", skdim.id.TwoNN()), ("lpca", skdim.id.lPCA())]:
        kw = {"n_neighbors": args.k} if name == "mle" else {}
        fitted, t = timed(lambda: est.fit(X, **kw))
        t_sk += t
        print(f"skdim {type(est).__name__}: {t:.2f} s  dimension={fitted.dimension_:.4f}")
    print(f"skdim total: {t_sk:.2f} s  ratio skdim/imanifold: {t_sk / t_im:.1f}x")

    (d_im, i_im), t_knn = timed(lambda: imanifold.NearestNeighbors(args.k).fit(X).kneighbors())
    print(f"imanifold.NearestNeighbors({args.k}).kneighbors(): {t_knn:.2f} s")
    from sklearn.neighbors import NearestNeighbors
    (d_sk, i_sk), t = timed(lambda: NearestNeighbors(n_neighbors=args.k, algorithm="brute").fit(X).kneighbors())
    agree = np.mean(i_sk == i_im)
    print(f"sklearn NearestNeighbors(brute): {t:.2f} s  ratio {t / t_knn:.1f}x  same indices: {agree:.4f}")
    try:
        import faiss
    except ImportError:
        print("faiss not importable: skipped (pip install -r crates/imanifold-py/bench/requirements.txt)")
        return
    def faiss_knn():
        index = faiss.IndexFlatL2(args.d)
        index.add(X)
        d, i = index.search(X, args.k + 1)
        return np.sqrt(np.maximum(d[:, 1:], 0)), i[:, 1:]
    (d_f, i_f), t = timed(faiss_knn)
    print(f"faiss IndexFlatL2: {t:.2f} s  ratio {t / t_knn:.1f}x  same indices: {np.mean(i_f == i_im):.4f}")


if __name__ == "__main__":
    main()
