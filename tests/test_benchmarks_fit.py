"""benchmarks/fit_int8_estimate.py: the least-squares fit recovers the coefficients timings were made of, and
the choice it reports is the one node_quant.cc's rule makes."""

import numpy as np

from benchmarks import fit_int8_estimate as fit


def _rows(stock, onexn, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(40):
        cout, cin = int(rng.choice([16, 64, 256, 1024])), int(rng.choice([16, 64, 256, 1024]))
        taps, n = int(rng.choice([1, 9])), 16
        kept = int(cin * -(-cout // n) * rng.uniform(0.2, 0.6))
        f = fit.features(cout, cin, taps, n, kept)
        s, o = np.dot(f["stock"], stock), np.dot(f["onexn"], onexn)
        rows.append((f, s * (1 + noise * rng.standard_normal()), o * (1 + noise * rng.standard_normal()),
                     int(rng.choice([49, 196, 784]))))
    return rows


def test_the_fit_recovers_the_coefficients_the_timings_were_made_of():
    stock, onexn = [10.5, 0.129, 0.867e-3], [0.2, 0.097, 4.64e-3, 0.047]  # node_quant.cc's Xeon fit
    rows = _rows(stock, onexn)
    got, err = fit.fit([r[0]["stock"] for r in rows], [r[1] for r in rows])
    np.testing.assert_allclose(got, stock, rtol=1e-6)
    assert np.abs(err).max() < 1e-9
    got, _ = fit.fit([r[0]["onexn"] for r in rows], [r[2] for r in rows])
    np.testing.assert_allclose(got, onexn, rtol=1e-6)


def test_the_summary_counts_the_layers_the_rule_takes():
    stock, onexn = [10.5, 0.129, 0.867e-3], [0.2, 0.097, 4.64e-3, 0.047]
    rows = _rows(stock, onexn, seed=1, noise=0.02)
    lines = fit.summary(rows)
    taken = sum(np.dot(r[0]["onexn"], onexn) < fit.TAKE_UNDER * np.dot(r[0]["stock"], stock) for r in rows)
    assert lines[0] == "40 layers"
    assert lines[1].startswith("stock: ") and lines[2].startswith("onexn: ")
    assert lines[3].startswith(f"taken under 0.9 of the stock estimate: {taken} of 40 layers"), lines[3]
