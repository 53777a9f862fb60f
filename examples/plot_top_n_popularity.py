"""
==================================================
Top-N recommendation against a popularity baseline
==================================================

RMSE says how well a model predicts ratings; a recommender is judged by the
items it puts at the top of a list. Here every user's ratings are split 80/20
(:func:`~recfreq.model_selection.train_test_split` with ``strategy="user"``),
the held-out items are the relevant ones, and four recommenders are compared with
the ranking metrics of :mod:`recfreq.metrics`:

* **popularity** (:class:`~recfreq.PopularityRecommender`): every user gets the
  items rated most often in training that they have not rated yet, a baseline any
  model must beat;
* a :class:`~recfreq.MatrixFactorization` fitted to the ratings, ranking by
  predicted rating;
* the same model trained with a ranking loss (``loss="bpr"``) on the
  *interactions* alone: every training rating is a positive, and unrated items
  are sampled as negatives;
* a :class:`~recfreq.NeuralCF` (GMF), also on the interactions.

Every model's ``recommend`` leaves out the items a user rated in training.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from recfreq import MatrixFactorization, NeuralCF, PopularityRecommender
from recfreq.datasets import load_movielens
from recfreq.metrics import hit_rate_at_k, ndcg_at_k, precision_at_k, recall_at_k
from recfreq.model_selection import train_test_split

X, y = load_movielens("100k", return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, strategy="user", random_state=0)
users = np.unique(X_test[:, 0])
relevant = [set(X_test[X_test[:, 0] == u, 1]) for u in users]
k_max = 20

# %%
# Popularity
# ----------
# Items ranked by their number of training interactions; each user's list skips
# the items the user already rated.
popular, _ = PopularityRecommender().fit(X_train).recommend(users, n=k_max)

# %%
# Matrix factorization
# --------------------
# Trained on the ratings; ``recommend`` ranks every unseen item by its predicted
# rating.
model = MatrixFactorization(n_factors=64, max_iter=20, random_state=0).fit(X_train, y_train)
mf_items, _ = model.recommend(users, n=k_max)

# %%
# Matrix factorization with a ranking loss
# ----------------------------------------
# ``fit(X)`` without ``y``: Bayesian personalized ranking steps each training
# interaction above one sampled item the user has not rated, in every epoch.
ranker = MatrixFactorization(loss="bpr", n_factors=64, random_state=0).fit(X_train)
bpr_items, _ = ranker.recommend(users, n=k_max)

# %%
# Neural collaborative filtering on implicit feedback
# ---------------------------------------------------
# ``fit(X)`` without ``y``: every row is a positive, and four items the user has
# not rated are drawn as negatives for each of them, in every epoch.
ncf = NeuralCF(model="gmf", n_factors=32, max_iter=10, random_state=0).fit(X_train)
ncf_items, _ = ncf.recommend(users, n=k_max)

# %%
# Compare at k = 1 ... 20
# -----------------------
metrics = {"precision@k": precision_at_k, "recall@k": recall_at_k, "nDCG@k": ndcg_at_k,
           "hit rate@k": hit_rate_at_k}
ks = [1, 2, 5, 10, 15, 20]
ranked = [("popularity", popular), ("MF, ratings", mf_items), ("MF, loss='bpr'", bpr_items),
          ("NeuralCF (GMF)", ncf_items)]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
for ax, (name, metric) in zip(axes, metrics.items()):
    for label, recommended in ranked:
        ax.plot(ks, [metric(relevant, recommended, k=k) for k in ks], marker="o", label=label)
    ax.set_title(name)
    ax.set_xlabel("k")
axes[0].legend()
fig.tight_layout()
plt.show()

for label, recommended in ranked:
    print(f"{label:>20}: precision@10 {precision_at_k(relevant, recommended, k=10):.3f}, "
          f"nDCG@10 {ndcg_at_k(relevant, recommended, k=10):.3f}")

# %%
# Popularity is a strong baseline on MovieLens. The rating model loses to it by
# far: it was trained to predict how much a user likes a film *given* that they
# rated it, and ranks well-rated but rarely watched films high, which are seldom
# the ones a user goes on to rate. The implicit-feedback models learn which films
# a user rates at all, the question a top-N list answers, and beat popularity.
# A model trained with a ranking loss scores by NDCG@10 of its top-10 lists, so
# a grid search over it needs no ``scoring=``; for the rating model, pass a
# ranking scorer (:func:`~recfreq.metrics.get_scorer` with ``"ndcg@10"``).
