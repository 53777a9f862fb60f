"""Pure-NumPy reference epochs, written straight from DESIGN.md section 3.

Deliberately naive (a Python loop over samples, Python floats): these functions
are the executable specification the compiled kernels are tested against on
tiny data, not an implementation to optimise.
"""

import numpy as np
from sklearn.utils import check_random_state

SGD, FA_SGD, CF_SGD, ADAGRAD = 0, 1, 2, 3


def new_state(n_rows, blocks, solver, counts=None, n_samples=0):
    """Reference per-table state: frequency counts, counter, stamps, accumulators."""
    return {
        "counts": np.zeros(n_rows) if counts is None else np.asarray(counts, dtype=float),
        "n_samples": n_samples,
        "counter": np.zeros(n_rows),
        "last_seen": np.zeros(n_rows, dtype=np.int64),
        "accum": {name: np.zeros((n_rows, *shape)) for name, shape in blocks.items()},
    }


def row_rate(cfg, state, r, t):
    """eta_r(t) of DESIGN section 3 (advances the cf-sgd counter)."""
    eta, beta = cfg["learning_rate"], cfg["frequency_exponent"]
    if cfg["solver"] == FA_SGD:
        p_r = state["counts"][r] / state["n_samples"]
        return eta * max(1.0, p_r * t) ** (-beta)
    if cfg["solver"] == CF_SGD:
        c = state["counter"][r]
        h = cfg["counter_halflife"]
        if h > 0:
            delta = t - state["last_seen"][r]
            c = c * 2.0 ** (-delta / h)
            state["last_seen"][r] = t
        c = 1.0 + c
        state["counter"][r] = c
        return eta * c ** (-beta)
    return eta


def row_step(cfg, theta, grad, accum, rate):
    """theta <- theta - rate * grad, or Adagrad's per-coordinate step (in place)."""
    if cfg["solver"] == ADAGRAD:
        accum += grad * grad
        theta -= rate * grad / (np.sqrt(accum) + cfg["epsilon"])
    else:
        theta -= rate * grad


def baseline_epoch(users, items, ratings, order, mu, user_bias, item_bias, cfg, alpha,
                   t_start, user_state, item_state):
    """One epoch of r_hat = mu + b_u + b_i; updates arrays in place, returns the SSE."""
    sse = 0.0
    for i, s in enumerate(order):
        u, it, t = users[s], items[s], t_start + i + 1
        err = ratings[s] - (mu + user_bias[u] + item_bias[it])
        sse += err * err
        rate_u = row_rate(cfg, user_state, u, t)
        rate_i = row_rate(cfg, item_state, it, t)
        grad_u = np.array([-err + alpha * user_bias[u]])
        grad_i = np.array([-err + alpha * item_bias[it]])
        bu, bi = user_bias[u:u + 1], item_bias[it:it + 1]
        row_step(cfg, bu, grad_u, user_state["accum"]["bias"][u:u + 1], rate_u)
        row_step(cfg, bi, grad_i, item_state["accum"]["bias"][it:it + 1], rate_i)
    return sse


def epoch_orders(random_state, n_samples_per_call, n_epochs_per_call):
    """The sample orders BaseRecommender uses: one shuffler per fit/partial_fit call.

    Yields one list of orders per call, mirroring ``BaseRecommender._train``.
    """
    rng = check_random_state(random_state)
    for n_samples, n_epochs in zip(n_samples_per_call, n_epochs_per_call):
        shuffler = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        yield [shuffler.permutation(n_samples) for _ in range(n_epochs)]



def mf_epoch(users, items, ratings, order, mu, P, Q, user_bias, item_bias, cfg, alpha, alpha_bias,
             t_start, user_state, item_state):
    """One epoch of r_hat = mu + b_u + b_i + p_u . q_i; updates in place, returns the SSE."""
    sse = 0.0
    for i, s in enumerate(order):
        u, it, t = users[s], items[s], t_start + i + 1
        err = ratings[s] - (mu + user_bias[u] + item_bias[it] + P[u] @ Q[it])
        sse += err * err
        grad_p = -err * Q[it] + alpha * P[u]
        grad_q = -err * P[u] + alpha * Q[it]
        grad_bu = np.array([-err + alpha_bias * user_bias[u]])
        grad_bi = np.array([-err + alpha_bias * item_bias[it]])
        rate_u = row_rate(cfg, user_state, u, t)
        rate_i = row_rate(cfg, item_state, it, t)
        row_step(cfg, P[u], grad_p, user_state["accum"]["factors"][u], rate_u)
        row_step(cfg, Q[it], grad_q, item_state["accum"]["factors"][it], rate_i)
        row_step(cfg, user_bias[u:u + 1], grad_bu, user_state["accum"]["bias"][u:u + 1], rate_u)
        row_step(cfg, item_bias[it:it + 1], grad_bi, item_state["accum"]["bias"][it:it + 1], rate_i)
    return sse
