"""
===================================
Learning curves of the four solvers
===================================

Every recfreq model updates the rows a rating touches with one per-row step,
chosen by ``solver``: plain ``sgd``, frequency-aware ``fa-sgd``, counter-based
``cf-sgd`` and ``adagrad`` (the update rules are in the :doc:`/solvers` page).
Here a :class:`~recfreq.MatrixFactorization` is trained on the bundled
MovieLens-100K with each solver at its default learning rate, one epoch at a
time with ``partial_fit``, and its held-out RMSE is measured after every epoch.
"""

# %%
# Data: 80 % of the ratings to train, 20 % to measure
# ---------------------------------------------------
import matplotlib.pyplot as plt

from recfreq import MatrixFactorization
from recfreq.datasets import load_movielens
from recfreq.metrics import rmse
from recfreq.model_selection import train_test_split

X, y = load_movielens("100k", return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

# %%
# One epoch per ``partial_fit`` call
# ----------------------------------
# ``partial_fit`` runs exactly one epoch and keeps the solver state (counters,
# Adagrad accumulators, the step count ``t_``), so calling it repeatedly on the
# same data trains like ``fit`` while letting us score the model in between.
n_epochs = 30
curves = {}
for solver in ["sgd", "fa-sgd", "cf-sgd", "adagrad"]:
    model = MatrixFactorization(n_factors=32, solver=solver, random_state=0)
    curves[solver] = []
    for _ in range(n_epochs):
        model.partial_fit(X_train, y_train)
        curves[solver].append(rmse(y_test, model.predict(X_test)))
    print(f"{solver:>8}: RMSE after 1 epoch {curves[solver][0]:.4f}, "
          f"best {min(curves[solver]):.4f} (epoch {curves[solver].index(min(curves[solver])) + 1})")

# %%
# The curves
# ----------
# The frequency-aware solvers take large steps on a row's first visits and
# smaller ones as the row is seen again, so they reach a low RMSE in fewer
# epochs than plain SGD, whose single learning rate must suit the most frequent
# rows. With the default regularisation they then overfit slowly, while plain
# SGD is still improving after 30 epochs; the solver study on the
# :doc:`/benchmarks` page shows the same on MovieLens-1M. The dashed line is the
# global-mean predictor.
fig, ax = plt.subplots(figsize=(7, 4.2))
epochs = range(1, n_epochs + 1)
for solver, curve in curves.items():
    ax.plot(epochs, curve, marker="o", markersize=3, label=solver)
baseline = rmse(y_test, [y_train.mean()] * len(y_test))
ax.axhline(baseline, color="grey", linestyle="--", linewidth=1, label="global mean")
ax.set_xlabel("epoch")
ax.set_ylabel("held-out RMSE")
ax.set_ylim(0.88, 1.15)
ax.set_title("MatrixFactorization(n_factors=32) on MovieLens-100K")
ax.legend()
fig.tight_layout()
plt.show()
