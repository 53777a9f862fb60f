"""Pure-NumPy reference epochs, written straight from the update rules of docs/solvers.md.

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
    """eta_r(t) of docs/solvers.md (advances the cf-sgd counter)."""
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


def row_numbering(batches):
    """raw id -> row, as IdEncoder numbers them: the first batch's ids sorted, then
    each later batch's new ids appended in sorted order."""
    rows = {}
    for batch in batches:
        for value in sorted(set(np.asarray(batch).tolist()) - set(rows)):
            rows[value] = len(rows)
    return rows


_MASK64 = (1 << 64) - 1


def _mix64(z):
    """SplitMix64's finalizer, on Python integers modulo 2**64."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _order_round(half, key):
    """The epoch order's 32-bit round hash of (half ^ key)."""
    h = ((half ^ key) * 0x9E3779B1) & 0xFFFFFFFF
    h ^= h >> 15
    return (h * 0x2C1B3C6D) & 0xFFFFFFFF


def keyed_sample(n, seed, epoch, position):
    """The sample position ``position`` of an epoch visits: a four-round Feistel bijection of
    the mixed radix a x 2**s (s = floor(b / 2) for the b bits of n, a = ceil(n / 2**s); a value is
    (hi, lo) = (x // 2**s, x % 2**s)) whose rounds alternate hi += top(F(lo), a) mod a and
    lo ^= top(F(hi), 2**s), keyed on (seed, epoch), cycle-walked into [0, n) (written from the
    description in the engine, independently of its code)."""
    bits = 0
    while bits < 62 and (1 << bits) < n:
        bits += 1
    s = bits // 2
    a = max(1, -(-n // (1 << s)))
    key = _mix64(seed ^ _mix64(epoch))
    keys = [_mix64((key + r + 1) & _MASK64) & 0xFFFFFFFF for r in range(4)]

    def permute(x):
        hi, lo = divmod(x, 1 << s)
        for r in (0, 2):
            hi = (hi + _order_round(lo, keys[r]) * a // 2**32) % a
            lo ^= _order_round(hi, keys[r + 1]) * (1 << s) // 2**32
        return hi * (1 << s) + lo

    x = permute(position)
    while x >= n:
        x = permute(x)
    return x


def keyed_order(n, seed, epoch):
    """The samples positions 0..n-1 of an epoch visit (:func:`keyed_sample` of each)."""
    return np.array([keyed_sample(n, seed, epoch, p) for p in range(n)], dtype=np.int64)


def device_epoch_orders(random_state, n_samples_per_call, n_epochs_per_call):
    """The sample orders of the models on the device seam (BaselinePredictor, MatrixFactorization
    and OverparamMF, the factorization machines):
    one order key per fit/partial_fit call, drawn from the model's RandomState, and
    epoch e of the call visits keyed_order(n, key, e), on every device."""
    rng = check_random_state(random_state)
    for n_samples, n_epochs in zip(n_samples_per_call, n_epochs_per_call):
        seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        yield [keyed_order(n_samples, seed, e) for e in range(n_epochs)]


def clock(t_start, t_span, n, i):
    """Step of the i-th (0-based) of n samples that span t_span steps from t_start: the serial
    epoch's t_start + i + 1 when t_span = n; a DSGD block of n samples in a stratum of t_span
    samples advances by the fraction t_span / n per sample, floored (Python integers: exact)."""
    return t_start + (i + 1) * t_span // n


def mf_epoch(users, items, ratings, order, mu, P, Q, user_bias, item_bias, cfg, alpha, alpha_bias,
             t_start, user_state, item_state, t_span=None):
    """One epoch of r_hat = mu + b_u + b_i + p_u . q_i; updates in place, returns the SSE.

    The samples span ``t_span`` steps of the clock (None: one each, see :func:`clock`).
    """
    sse = 0.0
    n = len(order)
    t_span = n if t_span is None else t_span
    for i, s in enumerate(order):
        u, it, t = users[s], items[s], clock(t_start, t_span, n, i)
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


def snake_stripes(counts, d):
    """Stripe of each row: rows ranked by decreasing count (ties: lower row first); the r-th of them
    goes to stripe r mod d on even laps (r // d even) and d - 1 - (r mod d) on odd laps."""
    ranked = sorted(range(len(counts)), key=lambda r: (-counts[r], r))
    stripe = np.empty(len(counts), dtype=np.int64)
    for rank, row in enumerate(ranked):
        lap, position = divmod(rank, d)
        stripe[row] = position if lap % 2 == 0 else d - 1 - position
    return stripe


def dsgd_fit(X, y, d, k, cfg, alpha, alpha_bias, init_std, seed, n_epochs):
    """DSGD (Gemulla et al. 2011) as docs/scaling_out.md describes it, on global tables.

    Rows numbered as fit numbers them, initialised from RandomState(seed) (user then item
    factors) and the call's order key drawn next. Each epoch is d strata; stratum s trains the
    blocks (a, (a + s) mod d) of user stripe a and item stripe b, each over its samples in data
    order, visited in keyed_order(n_b, seed_ab, epoch) with seed_ab = key + (a d + b) * golden
    (mod 2**64); the stratum's N_s samples start at the samples of the strata before it and a
    block of n_b of them spans N_s steps of the clock (mf_epoch's t_span). Returns
    P, Q, b_u, b_i, the loss curve and the two states.
    """
    u_of, i_of = row_numbering([X[:, 0]]), row_numbering([X[:, 1]])
    users = np.array([u_of[v] for v in X[:, 0]])
    items = np.array([i_of[v] for v in X[:, 1]])
    n_users, n_items, n = len(u_of), len(i_of), len(y)
    rng = check_random_state(seed)
    P = rng.standard_normal((n_users, k)) * init_std
    Q = rng.standard_normal((n_items, k)) * init_std
    key = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    mu = float(np.mean(y))
    blocks = {"factors": (k,), "bias": ()}
    ust = new_state(n_users, blocks, cfg["solver"], np.bincount(users, minlength=n_users), n)
    ist = new_state(n_items, blocks, cfg["solver"], np.bincount(items, minlength=n_items), n)
    user_stripe, item_stripe = snake_stripes(ust["counts"], d), snake_stripes(ist["counts"], d)
    samples = {(a, b): [j for j in range(n) if user_stripe[users[j]] == a and item_stripe[items[j]] == b]
               for a in range(d) for b in range(d)}
    t, losses = 0, []
    for epoch in range(n_epochs):
        sse = 0.0
        for s in range(d):
            stratum = [(a, (a + s) % d) for a in range(d)]
            span = sum(len(samples[block]) for block in stratum)
            for a, b in stratum:
                block = samples[(a, b)]
                if not block:
                    continue
                seed_ab = (key + (a * d + b) * 0x9E3779B97F4A7C15) % 2**64
                order = [block[p] for p in keyed_order(len(block), seed_ab, epoch)]
                sse += mf_epoch(users, items, y, order, mu, P, Q, bu, bi, cfg, alpha, alpha_bias, t, ust, ist,
                                t_span=span)
            t += span
        losses.append(sse / n)
    return P, Q, bu, bi, losses, ust, ist


def _softplus(x):
    return x + np.log1p(np.exp(-x)) if x > 0 else np.log1p(np.exp(x))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x)) if x >= 0 else np.exp(x) / (1.0 + np.exp(x))


LOGISTIC, BPR, WARP = 0, 1, 2


def harmonic_numbers(n):
    """WARP's rank weights L(r) = 1 + 1/2 + ... + 1/r for r = 0..n (L(0) = 0)."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])


def mf_ranking_epoch(users, items, order, key, mu, P, Q, user_bias, item_bias, loss, n_negatives, max_sampled,
                     indptr, indices, cfg, alpha, alpha_bias, t_start, user_state, item_state):
    """One epoch of MF under a ranking loss over the positives (users[s], items[s]) for s in order;
    updates in place, returns the summed loss.

    Position p is step t = t_start + p + 1; the s-th negative of the positive with own index r is
    sample_negative(key, r, s, ...). Scores s(u, j) = mu + b_u + b_j + p_u . q_j.
    logistic: the positive (y = 1) then n_negatives negatives (y = 0), each a step on
    softplus(s) - y s. bpr: one negative, x = s(u, i) - s(u, j), loss softplus(-x). warp: negatives
    drawn until s(u, j) > s(u, i) - 1 (at most max_sampled); after N draws r = (n_items - n_pos) // N
    and the loss is L(r) (1 - x); no violation, no step. A pairwise step moves p_u, q_i, q_j, b_i,
    b_j; a user holding every item gets no negative (a logistic positive still steps)."""
    n_items = Q.shape[0]
    weights = harmonic_numbers(n_items)
    total = 0.0
    for position, row in enumerate(order):
        u, i, t = int(users[row]), int(items[row]), t_start + position + 1
        positives = indices[indptr[u]:indptr[u + 1]]
        has_negative = len(positives) < n_items
        if loss == LOGISTIC:
            for s in range(n_negatives + 1):
                if s > 0 and not has_negative:
                    break
                j, y = (i, 1.0) if s == 0 else (sample_negative(key, row, s, positives, n_items), 0.0)
                score = mu + user_bias[u] + item_bias[j] + P[u] @ Q[j]
                total += _softplus(score) - y * score
                e = _sigmoid(score) - y
                grad_p, grad_q = e * Q[j] + alpha * P[u], e * P[u] + alpha * Q[j]
                grad_bu = np.array([e + alpha_bias * user_bias[u]])
                grad_bj = np.array([e + alpha_bias * item_bias[j]])
                rate_u, rate_j = row_rate(cfg, user_state, u, t), row_rate(cfg, item_state, j, t)
                row_step(cfg, P[u], grad_p, user_state["accum"]["factors"][u], rate_u)
                row_step(cfg, Q[j], grad_q, item_state["accum"]["factors"][j], rate_j)
                row_step(cfg, user_bias[u:u + 1], grad_bu, user_state["accum"]["bias"][u:u + 1], rate_u)
                row_step(cfg, item_bias[j:j + 1], grad_bj, item_state["accum"]["bias"][j:j + 1], rate_j)
            continue
        if not has_negative:
            continue
        score_i = item_bias[i] + P[u] @ Q[i]
        draws, j = 0, None
        while draws < (1 if loss == BPR else max_sampled):
            draws += 1
            candidate = sample_negative(key, row, draws, positives, n_items)
            if loss == BPR or item_bias[candidate] + P[u] @ Q[candidate] > score_i - 1.0:
                j = candidate
                break
        if j is None:
            continue
        x = score_i - (item_bias[j] + P[u] @ Q[j])
        if loss == BPR:
            total += _softplus(-x)
            g = _sigmoid(-x)
        else:
            w = weights[(n_items - len(positives)) // draws]
            total += w * (1.0 - x)
            g = w
        grad_p = -g * (Q[i] - Q[j]) + alpha * P[u]
        grad_qi = -g * P[u] + alpha * Q[i]
        grad_qj = g * P[u] + alpha * Q[j]
        grad_bi = np.array([-g + alpha_bias * item_bias[i]])
        grad_bj = np.array([g + alpha_bias * item_bias[j]])
        rate_u = row_rate(cfg, user_state, u, t)
        rate_i = row_rate(cfg, item_state, i, t)
        rate_j = row_rate(cfg, item_state, j, t)
        row_step(cfg, P[u], grad_p, user_state["accum"]["factors"][u], rate_u)
        row_step(cfg, Q[i], grad_qi, item_state["accum"]["factors"][i], rate_i)
        row_step(cfg, Q[j], grad_qj, item_state["accum"]["factors"][j], rate_j)
        row_step(cfg, item_bias[i:i + 1], grad_bi, item_state["accum"]["bias"][i:i + 1], rate_i)
        row_step(cfg, item_bias[j:j + 1], grad_bj, item_state["accum"]["bias"][j:j + 1], rate_j)
    return total


def ranking_expected_steps(users, items, n_users, n_items, loss, n_negatives):
    """fa-sgd's expected steps of each user and item row per epoch under a ranking loss, negatives
    included: a positive steps its user 1 + n_negatives times (logistic) or once (bpr, warp: the
    warp step is counted as if every positive found its violator), its item once, and each of its
    negatives (n_negatives, or 1) lands on one of the user's non-positive items with equal chance;
    a user holding every item has no negatives."""
    positives = {}
    for u, i in zip(users, items):
        positives.setdefault(int(u), set()).add(int(i))
    per_positive = n_negatives if loss == LOGISTIC else 1
    user_steps, item_steps = np.zeros(n_users), np.zeros(n_items)
    for u, i in zip(users, items):
        u = int(u)
        held = positives[u]
        negatives = per_positive if len(held) < n_items else 0
        user_steps[u] += (1 + negatives) if loss == LOGISTIC else (1 if negatives else 0)
        if loss == LOGISTIC or negatives:
            item_steps[int(i)] += 1
        for j in range(n_items):
            if negatives and j not in held:
                item_steps[j] += negatives / (n_items - len(held))
    return user_steps, item_steps


def _fm_score(features, w0, w, V):
    """FM score of a feature list [(row, x)]: w0 + sum w x + sum_{a<b} <v_a, v_b> x_a x_b, pair by pair."""
    score = w0 + sum(w[a] * x for a, x in features)
    for n, (a, xa) in enumerate(features):
        for b, xb in features[n + 1:]:
            score += (V[a] @ V[b]) * xa * xb
    return score


def _fm_score_grads(features, w, V):
    """d score / d v_a = x_a sum_{b != a} v_b x_b and d score / d w_a = x_a, per row of the list."""
    total = sum((V[b] * xb for b, xb in features), np.zeros(V.shape[1]))
    return {a: (x * (total - V[a] * x), x) for a, x in features}


def fm_ranking_epoch(ctx, users, items, item_parts, order, key, w0, w, V, loss, n_negatives, max_sampled,
                     indptr, indices, cfg, dense_cfg, alpha, alpha_bias, t_start, state, w0_accum):
    """One epoch of the factorization machine under a ranking loss (in place); returns the summed loss.

    ``ctx[r]``: the context part of positive r, a list [(row, x)]; ``item_parts[i]``: the item
    part of item i. Position p (positive r = order[p]) is step t = t_start + p + 1; the s-th
    negative is sample_negative(key, r, s, ...). logistic: (C + I, label 1) then n_negatives
    (C + J, 0), each a pointwise step of softplus(s) - y s on every row of the pair (v and w,
    L2 added) and of w0 (dense, no L2). bpr / warp: x = s(C + I) - s(C + J); every row takes one
    step of -g dx/dtheta plus its L2: the context rows their factors only (their weights and w0
    cancel), the item-part rows (of either item) factors and weight. ``w0`` is a 1-element array."""
    n_items = len(item_parts)
    weights = harmonic_numbers(n_items)
    total = 0.0
    for position, r in enumerate(order):
        u, i, t = int(users[r]), int(items[r]), t_start + position + 1
        positives = indices[indptr[u]:indptr[u + 1]]
        has_negative = len(positives) < n_items
        C = ctx[r]
        if loss == LOGISTIC:
            for s in range(n_negatives + 1):
                if s > 0 and not has_negative:
                    break
                j, y = (i, 1.0) if s == 0 else (sample_negative(key, r, s, positives, n_items), 0.0)
                features = C + item_parts[j]
                score = _fm_score(features, w0[0], w, V)
                total += _softplus(score) - y * score
                d = _sigmoid(score) - y
                grads = _fm_score_grads(features, w, V)
                for a, (gv, gw) in grads.items():
                    rate = row_rate(cfg, state, a, t)
                    row_step(cfg, V[a], d * gv + alpha * V[a], state["accum"]["factors"][a], rate)
                    row_step(cfg, w[a:a + 1], np.array([d * gw + alpha_bias * w[a]]),
                             state["accum"]["bias"][a:a + 1], rate)
                row_step(dense_cfg, w0, np.array([d]), w0_accum, dense_cfg["learning_rate"])
            continue
        if not has_negative:
            continue
        I = item_parts[i]
        score_i = _fm_score(C + I, w0[0], w, V)
        draws, j = 0, None
        while draws < (1 if loss == BPR else max_sampled):
            draws += 1
            candidate = sample_negative(key, r, draws, positives, n_items)
            if loss == BPR or _fm_score(C + item_parts[candidate], w0[0], w, V) > score_i - 1.0:
                j = candidate
                break
        if j is None:
            continue
        J = item_parts[j]
        x = score_i - _fm_score(C + J, w0[0], w, V)
        if loss == BPR:
            total += _softplus(-x)
            g = _sigmoid(-x)
        else:
            weight = weights[(n_items - len(positives)) // draws]
            total += weight * (1.0 - x)
            g = weight
        plus, minus = _fm_score_grads(C + I, w, V), _fm_score_grads(C + J, w, V)
        context_rows = {a for a, _ in C}
        steps = {}
        for a in set(plus) | set(minus):
            gv = plus.get(a, (np.zeros(V.shape[1]), 0.0))[0] - minus.get(a, (np.zeros(V.shape[1]), 0.0))[0]
            gw = plus.get(a, (None, 0.0))[1] - minus.get(a, (None, 0.0))[1]
            steps[a] = (-g * gv + alpha * V[a], None if a in context_rows else -g * gw + alpha_bias * w[a])
        for a, (gv, gw) in steps.items():
            rate = row_rate(cfg, state, a, t)
            row_step(cfg, V[a], gv, state["accum"]["factors"][a], rate)
            if gw is not None:
                row_step(cfg, w[a:a + 1], np.array([gw]), state["accum"]["bias"][a:a + 1], rate)
    return total


def _row(table, r):
    d = int(table.group_in_dim[table.row_group[r]])
    return slice(int(table.row_offset[r]), int(table.row_offset[r]) + d)


def mf_projected_epoch(users, items, ratings, mu, user_table, item_table, user_bias, item_bias, cfg,
                       dense_learning_rate, alpha, alpha_bias, t_start, user_state, item_state,
                       dense_batch_size):
    """One epoch of MF with projected rows (recfreq._projection.ProjectedTable), in place.

    p_u = x_u W_1 ... W_L; the loss gradient is back-propagated to the raw row
    (plus alpha * x_u, then the row's solver step) and summed into the dense
    layers' gradient, applied every ``dense_batch_size`` samples and at the end.
    """
    dense_cfg = dict(cfg, learning_rate=dense_learning_rate)
    dense_grads = [np.zeros(t.dense.shape[0]) for t in (user_table, item_table)]

    def forward(table, r):
        x = table.rows[_row(table, r)].astype(float)
        acts = [x]
        for W in table.layers(table.row_group[r]):
            acts.append(acts[-1] @ W)
        return acts

    def backward(table, r, acts, grad, dense_grad):
        g = table.row_group[r]
        first = int(table.group_first_layer[g])
        layers = table.layers(g)
        for j in range(len(layers) - 1, -1, -1):
            l = first + j
            start = int(table.layer_offset[l])
            dense_grad[start:start + layers[j].size] += np.outer(acts[j], grad).ravel()
            grad = layers[j] @ grad
        return grad

    def flush():
        for table, grad in zip((user_table, item_table), dense_grads):
            if table.dense.shape[0]:
                accum = table.dense_accum if table.dense_accum.shape[0] else np.zeros_like(grad)
                row_step(dense_cfg, table.dense, grad, accum, dense_learning_rate)
                grad[:] = 0

    sse, pending = 0.0, 0
    for i in range(len(ratings)):
        u, it, t = users[i], items[i], t_start + i + 1
        acts_u, acts_i = forward(user_table, u), forward(item_table, it)
        p, q = acts_u[-1], acts_i[-1]
        err = ratings[i] - (mu + user_bias[u] + item_bias[it] + p @ q)
        sse += err * err
        g_u = backward(user_table, u, acts_u, -err * q, dense_grads[0]) + alpha * acts_u[0]
        g_i = backward(item_table, it, acts_i, -err * p, dense_grads[1]) + alpha * acts_i[0]
        grad_bu = np.array([-err + alpha_bias * user_bias[u]])
        grad_bi = np.array([-err + alpha_bias * item_bias[it]])
        rate_u = row_rate(cfg, user_state, u, t)
        rate_i = row_rate(cfg, item_state, it, t)
        su, si = _row(user_table, u), _row(item_table, it)
        acc_u = user_table.rows_accum[su] if user_table.rows_accum.shape[0] else np.zeros(su.stop - su.start)
        acc_i = item_table.rows_accum[si] if item_table.rows_accum.shape[0] else np.zeros(si.stop - si.start)
        row_step(cfg, user_table.rows[su], g_u, acc_u, rate_u)
        row_step(cfg, item_table.rows[si], g_i, acc_i, rate_i)
        row_step(cfg, user_bias[u:u + 1], grad_bu, user_state["accum"]["bias"][u:u + 1], rate_u)
        row_step(cfg, item_bias[it:it + 1], grad_bi, item_state["accum"]["bias"][it:it + 1], rate_i)
        pending += 1
        if pending == dense_batch_size:
            flush()
            pending = 0
    if pending:
        flush()
    return sse


def fm_score_naive(js, xs, w0, w, V):
    """y_hat of one FM row by the plain pairwise sum over j < l (no O(k nnz) identity)."""
    y_hat = w0 + sum(w[j] * x for j, x in zip(js, xs))
    for a in range(len(js)):
        for b in range(a + 1, len(js)):
            y_hat += (V[js[a]] @ V[js[b]]) * xs[a] * xs[b]
    return y_hat


def fm_epoch(indptr, indices, data, targets, order, task, w0, w, V, cfg, dense_learning_rate, alpha,
             alpha_bias, t_start, state, w0_accum):
    """One epoch of the 2-way FM over CSR rows in ``order``; updates in place, returns the summed loss.

    ``task`` 0: squared error (gradient of e^2/2, loss e^2); 1: log loss with
    targets in {0, 1}. ``w0`` and ``w0_accum`` are 1-element arrays; w0 takes
    plain SGD steps of ``dense_learning_rate`` (Adagrad under adagrad).
    """
    loss = 0.0
    for i, s in enumerate(order):
        t = t_start + i + 1
        js = indices[indptr[s]:indptr[s + 1]]
        xs = data[indptr[s]:indptr[s + 1]]
        y_hat = fm_score_naive(js, xs, w0[0], w, V)
        if task == 1:
            p = 1.0 / (1.0 + np.exp(-y_hat))
            d = p - targets[s]
            loss += np.logaddexp(0.0, y_hat) - targets[s] * y_hat
        else:
            d = y_hat - targets[s]
            loss += d * d
        sums = sum((V[j] * x for j, x in zip(js, xs)), np.zeros(V.shape[1]))
        # every gradient from the parameters as they were before this sample
        grads = [(d * x * (sums - V[j] * x) + alpha * V[j], np.array([d * x + alpha_bias * w[j]]))
                 for j, x in zip(js, xs)]
        for j, (g_v, g_w) in zip(js, grads):
            rate = row_rate(cfg, state, j, t)
            row_step(cfg, V[j], g_v, state["accum"]["factors"][j], rate)
            row_step(cfg, w[j:j + 1], g_w, state["accum"]["bias"][j:j + 1], rate)
        dense = dict(cfg, solver=ADAGRAD if cfg["solver"] == ADAGRAD else SGD)
        row_step(dense, w0, np.array([d]), w0_accum, dense_learning_rate)
    return loss


def _project(table, r):
    """Activations of row r of a ProjectedTable: [raw row, output of each layer] (the last is the projected row)."""
    acts = [table.rows[_row(table, r)].astype(float)]
    for W in table.layers(table.row_group[r]):
        acts.append(acts[-1] @ W)
    return acts


def _project_back(table, r, acts, grad, dense_grad):
    """dL/d(raw row r) from dL/d(projected row); adds each layer's dL/dW to ``dense_grad``."""
    g = table.row_group[r]
    first = int(table.group_first_layer[g])
    layers = table.layers(g)
    for j in range(len(layers) - 1, -1, -1):
        start = int(table.layer_offset[first + j])
        dense_grad[start:start + layers[j].size] += np.outer(acts[j], grad).ravel()
        grad = layers[j] @ grad
    return grad


def fm_projected_epoch(indptr, indices, data, targets, order, task, w0, w, table, cfg, dense_learning_rate,
                       alpha, alpha_bias, t_start, state, w0_accum, dense_batch_size):
    """One epoch of the 2-way FM whose factor rows are projected, v_j = e_j P_g(j); in place, returns the loss.

    ``table`` is a recfreq._projection.ProjectedTable (mixed-dimension blocks).
    The score and dL/dv_j are those of ``fm_epoch`` on the projected rows
    (all from the parameters before the sample). dL/dv_j is back-propagated
    to the raw row e_j (plus alpha * e_j, then row j's solver step, whose rate
    the linear weight w_j shares) and summed into the projections' gradient,
    applied every ``dense_batch_size`` samples and at the end (SGD with
    ``dense_learning_rate``, Adagrad under adagrad); w0 steps as in ``fm_epoch``.
    """
    dense_cfg = dict(cfg, solver=ADAGRAD if cfg["solver"] == ADAGRAD else SGD)
    dense_grad = np.zeros(table.dense.shape[0])

    def flush():
        if table.dense.shape[0]:
            accum = table.dense_accum if table.dense_accum.shape[0] else np.zeros_like(dense_grad)
            row_step(dense_cfg, table.dense, dense_grad, accum, dense_learning_rate)
            dense_grad[:] = 0

    loss, pending = 0.0, 0
    for i, s in enumerate(order):
        t = t_start + i + 1
        js = indices[indptr[s]:indptr[s + 1]]
        xs = data[indptr[s]:indptr[s + 1]]
        acts = {j: _project(table, j) for j in js}
        V = {j: a[-1] for j, a in acts.items()}
        y_hat = fm_score_naive(js, xs, w0[0], w, V)
        if task == 1:
            d = 1.0 / (1.0 + np.exp(-y_hat)) - targets[s]
            loss += np.logaddexp(0.0, y_hat) - targets[s] * y_hat
        else:
            d = y_hat - targets[s]
            loss += d * d
        sums = sum((V[j] * x for j, x in zip(js, xs)), np.zeros(table.n_factors))
        grads = [(_project_back(table, j, acts[j], d * x * (sums - V[j] * x), dense_grad) + alpha * acts[j][0],
                  np.array([d * x + alpha_bias * w[j]])) for j, x in zip(js, xs)]
        for j, (g_e, g_w) in zip(js, grads):
            rate = row_rate(cfg, state, j, t)
            rows = _row(table, j)
            accum = table.rows_accum[rows] if table.rows_accum.shape[0] else np.zeros(rows.stop - rows.start)
            row_step(cfg, table.rows[rows], g_e, accum, rate)
            row_step(cfg, w[j:j + 1], g_w, state["accum"]["bias"][j:j + 1], rate)
        row_step(dense_cfg, w0, np.array([d]), w0_accum, dense_learning_rate)
        pending += 1
        if pending == dense_batch_size:
            flush()
            pending = 0
    if pending:
        flush()
    return loss


def ncf_unpack(dense, k, d, sizes):
    """Views of the flat NeuralCF dense vector: ([W_l], [b_l], h, h0 as a 1-element view)."""
    Ws, bs, off = [], [], 0
    if d:
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            Ws.append(dense[off:off + n_in * n_out].reshape(n_in, n_out))
            off += n_in * n_out
            bs.append(dense[off:off + n_out])
            off += n_out
    n_h = k + (sizes[-1] if d else 0)
    return Ws, bs, dense[off:off + n_h], dense[off + n_h:off + n_h + 1]


_U32 = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """Philox-4x32-10 (Salmon et al., SC 2011) of four 32-bit counter words under two key
    words, in Python integers (written from the paper, independently of rng.pxd)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & _U32, (k1 + 0xBB67AE85) & _U32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _U32, (p0 >> 32) ^ c3 ^ k1, p0 & _U32
    return c0, c1, c2, c3


def draw_key(seed, epoch):
    """The 64-bit key of one epoch's draws: SplitMix64-mixed (seed, epoch)."""
    return _mix64((int(seed) ^ _mix64(int(epoch))) & _MASK64)


class CounterStream:
    """The 32-bit draws of (sample index, stream) under a key, as the kernels make them
    (recfreq/_kernels/cpu/rng.pxd): Philox block n of counter (n, stream, index low,
    index high) gives draws 4n..4n+3."""

    def __init__(self, key, index, stream):
        self.key = (key & _U32, key >> 32)
        self.index, self.stream = int(index) & _MASK64, int(stream)
        self.block, self.words = 0, []

    def next32(self):
        if not self.words:
            counter = (self.block, self.stream, self.index & _U32, self.index >> 32)
            self.words = list(philox4x32_10(counter, self.key))
            self.block += 1
        return self.words.pop(0)

    def bounded(self, n):
        """Uniform in [0, n) by Lemire's multiply-shift with rejection."""
        m = self.next32() * n
        if (m & _U32) < n:
            threshold = (-n) % (1 << 32) % n
            while (m & _U32) < threshold:
                m = self.next32() * n
        return m >> 32


#: streams of emitted sample s of a row (s = 0: the row, s >= 1: its s-th negative);
#: stream 0 holds the first tries of all the row's negatives
def negative_stream(s):
    return 2 * s


def dropout_stream(s):
    return 2 * s + 1


FIRST_TRIES_STREAM = 0


class BitStream:
    """xoroshiro128++ (Blackman and Vigna, ACM TOMS 2021) seeded with Philox block 0 of
    (index, stream) under a key: s0 = words 0 | 1 << 32, s1 = words 2 | 3 << 32."""

    def __init__(self, key, index, stream):
        index = int(index) & _MASK64
        w = philox4x32_10((0, int(stream), index & _U32, index >> 32), (key & _U32, key >> 32))
        self.s0, self.s1 = w[0] | (w[1] << 32), w[2] | (w[3] << 32)
        if self.s0 == 0 and self.s1 == 0:
            self.s0 = 0x9E3779B97F4A7C15

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & _MASK64

    def next64(self):
        s0, s1 = self.s0, self.s1
        result = (self._rotl((s0 + s1) & _MASK64, 17) + s0) & _MASK64
        s1 ^= s0
        self.s0 = self._rotl(s0, 49) ^ s1 ^ ((s1 << 21) & _MASK64)
        self.s1 = self._rotl(s1, 28)
        return result


def _sample_negative_from(stream, positives, n_items, max_rejections=32):
    """An item the user (sorted ``positives``) does not hold: uniform draws rejected
    while they hit a positive; after ``max_rejections`` misses the r-th non-positive
    for a uniform r; a user holding every item gets a uniform item."""
    held = set(positives)
    if len(positives) >= n_items:
        return stream.bounded(n_items)
    for _ in range(max_rejections):
        j = stream.bounded(n_items)
        if j not in held:
            return j
    j = stream.bounded(n_items - len(positives))
    for p in positives:
        if p <= j:
            j += 1
        else:
            break
    return j


def first_try(key, row, s):
    """The first-try word of a row's s-th negative (s >= 1): word (s - 1) mod 4 of
    block (s - 1) // 4 of the row's stream FIRST_TRIES_STREAM."""
    row = int(row) & _MASK64
    words = philox4x32_10(((s - 1) // 4, FIRST_TRIES_STREAM, row & _U32, row >> 32), (key & _U32, key >> 32))
    return words[(s - 1) % 4]


def sample_negative(key, row, s, positives, n_items):
    """The s-th negative (s >= 1) of a row of a user with sorted ``positives``: the first-try
    word mapped onto [0, n_items) by Lemire's multiply-shift, kept unless that method would
    reject it or the item is a positive (a user holding every item keeps it); else the
    draws of the negative's own stream negative_stream(s)."""
    positives = [int(p) for p in positives]
    m = first_try(key, row, s) * n_items
    low = m & _U32
    if low >= (-n_items) % (1 << 32) % n_items:
        j = m >> 32
        if len(positives) >= n_items or j not in set(positives):
            return j
    return _sample_negative_from(CounterStream(key, row, negative_stream(s)), positives, n_items)


def sample_negatives(users, rows, indptr, indices, n_items, n_negatives, key):
    """(len(users), n_negatives) negatives: row r's s-th negative is sample_negative(key,
    rows[r], s + 1, ...) of its own index rows[r]."""
    out = np.zeros((len(users), n_negatives), dtype=np.int32)
    for r, (u, row) in enumerate(zip(users, rows)):
        for s in range(n_negatives):
            out[r, s] = sample_negative(key, row, s + 1, indices[indptr[u]:indptr[u + 1]], n_items)
    return out


def dropout_masks(key, row, s, widths, dropout):
    """The dropout multipliers of emitted sample s of a row, one array per tower layer input
    (of the given widths), drawn as the NCF kernel draws them: unit a, counted over z_0, ...,
    z_{L-1}, takes bits 63-48, 47-32, 31-16 or 15-0 (a mod 4 = 0 .. 3) of 64-bit draw a // 4
    of the sample's bit stream BitStream(key, row, dropout_stream(s)), and is dropped (0)
    when they are below floor(dropout * 2^16), else kept with 1 / (1 - dropout)."""
    n = int(sum(widths))
    stream = BitStream(key, row, dropout_stream(s))
    bits = []
    while len(bits) < n:
        word = stream.next64()
        bits += [(word >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    keep = np.array(bits[:n]) >= int(dropout * 2.0 ** 16)
    return np.split(np.where(keep, 1.0 / (1.0 - dropout), 0.0), np.cumsum(widths)[:-1])


def ncf_loss_and_grads(k, d, sizes, dense, p, q, m, n, y, masks=None):
    """Log loss of one NeuralCF sample and its gradients (no L2), by hand.

    g = p * q; z_0 = [m; n]; z_l = relu((r_l * z_{l-1}) W_l + b_l); logit = [g; z_L] . h + h0.
    ``masks``: the dropout multipliers r_1, ..., r_L (one per tower layer, of
    its input's width), or None for no dropout.
    Returns (loss, grad_p, grad_q, grad_m, grad_n, grad_dense).
    """
    Ws, bs, h, h0 = ncf_unpack(dense, k, d, sizes)
    if masks is None:
        masks = [np.ones(W.shape[0]) for W in Ws]
    parts = []
    if k:
        parts.append(p * q)
    zs, inputs = [], []
    if d:
        zs.append(np.concatenate([m, n]))
        for W, b, r in zip(Ws, bs, masks):
            inputs.append(zs[-1] * r)
            zs.append(np.maximum(inputs[-1] @ W + b, 0.0))
        parts.append(zs[-1])
    x = np.concatenate(parts)
    logit = float(x @ h + h0[0])
    loss = float(np.logaddexp(0.0, logit) - y * logit)
    e = 1.0 / (1.0 + np.exp(-logit)) - y
    g_dense = np.zeros_like(dense)
    gWs, gbs, gh, gh0 = ncf_unpack(g_dense, k, d, sizes)
    gh[:] = e * x
    gh0[0] = e
    gp = gq = gm = gn = np.zeros(0)
    if k:
        gx = e * h[:k]
        gp, gq = gx * q, gx * p
    if d:
        dz = e * h[k:]
        for layer in range(len(Ws) - 1, -1, -1):
            da = dz * (zs[layer + 1] > 0)
            gWs[layer][:] = np.outer(inputs[layer], da)
            gbs[layer][:] = da
            dz = (Ws[layer] @ da) * masks[layer]
        gm, gn = dz[:d], dz[d:]
    return loss, gp, gq, gm, gn, g_dense


def ncf_epoch(users, items, labels, negatives, k, d, sizes, P, Q, M, N, dense, cfg, dense_learning_rate,
              alpha, t_start, user_state, item_state, dense_accum, dense_batch_size, dropout=0.0,
              key=None, rows=None):
    """One NeuralCF epoch over rows already in epoch order; updates in place, returns the summed loss.

    A positive row emits itself, then (u, negatives[i, s], 0) for each s; an
    explicit negative (label 0) emits itself only. The s-th emitted sample is
    step t_start + s + 1. Embedding rows take the per-row step (gradient +
    alpha * theta; a user's GMF and MLP blocks share one rate); the dense
    vector steps with the gradient summed over every ``dense_batch_size``
    samples (and at the end): SGD with ``dense_learning_rate``, or Adagrad
    under adagrad.

    With ``dropout`` > 0 and a tower, emitted sample s of row i draws the masks
    of z_0, ..., z_{L-1} with ``dropout_masks(key, rows[i], s, ...)``
    (``rows[i]``: the row's own index in the training data) before its forward
    pass.
    """
    dense_cfg = dict(cfg, solver=ADAGRAD if cfg["solver"] == ADAGRAD else SGD)
    n_layers = len(sizes) - 1 if d else 0
    loss, t, pending = 0.0, t_start, 0
    g_sum = np.zeros_like(dense)
    for i in range(len(users)):
        u = users[i]
        samples = [(items[i], labels[i])]
        if labels[i] == 1:
            samples += [(j, 0.0) for j in negatives[i]]
        for s, (j, y) in enumerate(samples):
            t += 1
            p, q = (P[u], Q[j]) if k else (np.zeros(0), np.zeros(0))
            m, n = (M[u], N[j]) if d else (np.zeros(0), np.zeros(0))
            masks = None
            if dropout > 0 and n_layers:
                masks = dropout_masks(key, rows[i], s, sizes[:n_layers], dropout)
            sample_loss, gp, gq, gm, gn, gd = ncf_loss_and_grads(k, d, sizes, dense, p, q, m, n, y, masks)
            loss += sample_loss
            g_sum += gd
            rate_u = row_rate(cfg, user_state, u, t)
            rate_i = row_rate(cfg, item_state, j, t)
            if k:
                gp, gq = gp + alpha * p, gq + alpha * q
                row_step(cfg, P[u], gp, user_state["accum"]["gmf"][u], rate_u)
                row_step(cfg, Q[j], gq, item_state["accum"]["gmf"][j], rate_i)
            if d:
                gm, gn = gm + alpha * m, gn + alpha * n
                row_step(cfg, M[u], gm, user_state["accum"]["mlp"][u], rate_u)
                row_step(cfg, N[j], gn, item_state["accum"]["mlp"][j], rate_i)
            pending += 1
            if pending == dense_batch_size:
                row_step(dense_cfg, dense, g_sum, dense_accum, dense_learning_rate)
                g_sum[:] = 0
                pending = 0
    if pending:
        row_step(dense_cfg, dense, g_sum, dense_accum, dense_learning_rate)
    return loss
