"""
=========================================
Grid search over solver and learning rate
=========================================

recfreq estimators are scikit-learn estimators, so
:class:`~sklearn.model_selection.GridSearchCV` tunes them as it tunes any
regressor. The right ``learning_rate`` differs by about an order of magnitude
between solvers (``learning_rate=None`` picks a per-solver default), so the two
are searched together. Cross-validation folds come from
:class:`~recfreq.model_selection.RatingKFold`, which keeps every user with
enough ratings in every training fold; the score is the negated RMSE of
:func:`recfreq.metrics.get_scorer`.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV

from recfreq import MatrixFactorization
from recfreq.datasets import load_movielens
from recfreq.metrics import get_scorer
from recfreq.model_selection import RatingKFold

X, y = load_movielens("100k", return_X_y=True)

solvers = ["sgd", "fa-sgd", "cf-sgd", "adagrad"]
learning_rates = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
search = GridSearchCV(
    MatrixFactorization(n_factors=16, max_iter=10, random_state=0),
    {"solver": solvers, "learning_rate": learning_rates},
    scoring=get_scorer("neg_rmse"),
    cv=RatingKFold(n_splits=2, random_state=0),
    error_score=np.nan,  # a learning rate that diverges scores NaN instead of stopping the search
)
with warnings.catch_warnings():
    # The diverging fits are expected here (they are the blank cells below):
    # keep scikit-learn from printing each one's FloatingPointError.
    warnings.simplefilter("ignore", FitFailedWarning)
    warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
    search.fit(X, y)
print("best:", search.best_params_, f"RMSE {-search.best_score_:.4f}")

# %%
# Mean cross-validated RMSE of every pair
# ---------------------------------------
# Blank cells diverged (training raised ``FloatingPointError``).
rmse = -search.cv_results_["mean_test_score"].reshape(len(learning_rates), len(solvers))
# cv_results_ enumerates the grid with the parameters sorted by name:
# learning_rate is the outer loop, solver the inner one.
fig, ax = plt.subplots(figsize=(6.5, 4.5))
image = ax.imshow(np.ma.masked_invalid(rmse), cmap="viridis_r", vmin=np.nanmin(rmse),
                  vmax=min(np.nanmax(rmse), 1.1))
for (row, col), value in np.ndenumerate(rmse):
    if np.isfinite(value):
        # dark text on the light (low-RMSE) cells, light text on the dark ones
        color = "black" if value < np.nanmin(rmse) + 0.5 * (image.norm.vmax - np.nanmin(rmse)) else "white"
        ax.text(col, row, f"{value:.3f}", ha="center", va="center", color=color, fontsize=9)
ax.set_xticks(range(len(solvers)), solvers)
ax.set_yticks(range(len(learning_rates)), learning_rates)
ax.set_xlabel("solver")
ax.set_ylabel("learning_rate")
fig.colorbar(image, label="mean CV RMSE")
ax.set_title("MatrixFactorization, k=16, 10 epochs, 2 folds")
fig.tight_layout()
plt.show()
