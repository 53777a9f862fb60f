"""Train MatrixFactorization on a Dask cluster: distributed SGD (DSGD) that keeps every solver exact.

:func:`fit` trains an ordinary :class:`~recfreq.MatrixFactorization` on a
``dask.dataframe`` (or a Dask array) of (user, item, rating) rows that need not
fit on one machine, with stratified distributed SGD (Gemulla et al. [1]_): the
users and items are cut into d stripes each and the ratings into d x d blocks;
an epoch is d strata, and in stratum s the blocks (a, (a + s) mod d) train at
the same time, each on the worker that holds user stripe a, with the item
stripe and its solver state sent to it. One block at a time steps a row, so
``fa-sgd``, ``cf-sgd`` and ``adagrad`` keep their exact per-row rules. What
comes back is the estimator itself, fitted, with NumPy attributes: it predicts,
recommends, pickles and continues with ``partial_fit`` on one machine.

Why a function and not a Dask estimator class (as ``xgboost.dask`` or
LightGBM's ``DaskLGBMRegressor``): the result is meant to be the plain
estimator, and the estimator's parameters (``n_factors``, ``solver``,
``max_iter``...) mean the same here as in ``fit``; only how the work is cut
(``n_stripes``) and where it runs (``client``) are new, and those belong to the
call. A wrapper class would hand back a different type that must be converted
before it can be used without a cluster.

Dask is an optional dependency (``pip install "recfreq[dask]"``), imported
only when :func:`fit` runs.

References
----------
.. [1] R. Gemulla, E. Nijkamp, P. J. Haas, Y. Sismanis, "Large-scale matrix
   factorization with distributed stochastic gradient descent", KDD 2011.
"""

from __future__ import annotations

import concurrent.futures
import operator
import uuid

import numpy as np

from ._dsgd import DSGDReport, EpochReport, LostData, check_estimator, check_stripes, run

__all__ = ["fit", "DSGDReport", "EpochReport"]

INSTALL_HINT = ('recfreq.dask needs Dask\'s distributed scheduler: pip install "recfreq[dask]" '
                '(or pip install "dask[dataframe,distributed]").')


def _import_dask():
    try:
        import dask  # noqa: F401
        import dask.array
        import dask.dataframe
        import distributed
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return dask, distributed


class _DaskExecutor:
    """Runs the DSGD tasks on a Dask cluster (see the executor interface in ``recfreq._dsgd``).

    Most tasks have loose worker restrictions: they run on the worker asked
    for while it is there, and anywhere once it is gone. The tasks that read a
    user stripe's blocks (``strict=True``) run only there: with loose
    restrictions an idle worker would steal a block and copy its ratings
    (Dask's work stealing, when there are more stripes than workers). Such a
    task waits for ever once its worker is gone, so :meth:`gather` watches
    the workers it is given and raises :class:`LostData` when one leaves.
    Stripes are scattered
    with ``hash=False``: scatter would otherwise name equal arrays (the
    all-zero state of fresh stripes) by their content and hand every stripe
    the same data.
    """

    def __init__(self, client):
        self.client = client

    def workers(self, expect=1):
        """The workers' addresses, sorted; waits up to 10 s for ``expect`` of them (a nanny restarting
        a lost one), and for at least one without limit."""
        try:
            self.client.wait_for_workers(expect, timeout=10 if expect > 1 else None)
        except TimeoutError:
            pass
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def put(self, value, worker=None):
        try:
            return self.client.scatter([value], workers=None if worker is None else [worker], hash=False)[0]
        except KeyError:  # the worker left since the placement was made: anywhere will do
            return self.client.scatter([value], hash=False)[0]

    def share(self, value, key):
        # a task whose spec holds the value, not scattered data: Dask's memory manager keeps one
        # replica of what it can, and scattered data has no lineage, so losing the worker that held
        # the last copy would forget every block built from it; a task is simply run again
        return self.client.submit(_identity, value, key=key, pure=False)

    def locations(self, refs):
        holders = self.client.who_has(refs)
        return [next(iter(sorted(holders.get(ref.key) or ())), None) for ref in refs]

    def submit(self, fn, *args, key=None, worker=None, out_keys=None, strict=False):
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": not strict}
        future = self.client.submit(fn, *args, key=key, pure=False, **where)
        if out_keys is None:
            return future
        # each output its own key, so a task that needs one does not fetch the others; the list holds
        # the task's own future as long as the outputs are held (one let go while the scheduler
        # still registers the tasks that read it is forgotten first, and they are cancelled)
        return _Outputs([self.client.submit(operator.getitem, future, j, key=out_key, pure=False)
                         for j, out_key in enumerate(out_keys)], future)

    def gather(self, refs, workers=()):
        from distributed import wait
        from distributed.client import FutureCancelledError

        try:
            while workers:
                try:
                    wait(refs, timeout=WATCH_SECONDS)
                    break
                except TimeoutError:
                    gone = set(workers) - set(self.client.scheduler_info(n_workers=-1)["workers"])
                    if gone:
                        raise LostData(f"worker(s) {sorted(gone)} left while their blocks were training") from None
            return self.client.gather(refs)
        except (FutureCancelledError, concurrent.futures.CancelledError) as exc:
            raise LostData(str(exc)) from exc

    def cancel(self, refs):
        refs = [r for r in refs if r is not None]
        if refs:
            self.client.cancel(refs)

    def bytes_moved(self):
        counts = self.client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
        return int(sum(counts.values()))


#: how often a gather checks that the workers its pinned tasks run on are still there (seconds)
WATCH_SECONDS = 1.0


class _Outputs(list):
    """The futures of a task's outputs, holding the task's own future."""

    def __init__(self, outputs, task):
        super().__init__(outputs)
        self.task = task


def _identity(value):
    return value


def _partitions(data, columns):
    """(Delayed partitions holding the user, item and rating columns in that order, an empty (0, 2) X)."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(data, dd.DataFrame):
        names = list(data.columns)
        if columns is None:
            if len(names) < 3:
                raise ValueError(f"The dataframe has {len(names)} column(s) {names}; recfreq.dask.fit needs the "
                                 "user, item and rating columns (the first three, or name them with columns=).")
            columns = names[:3]
        columns = list(columns)
        if len(columns) != 3 or len(set(map(str, columns))) != 3:
            raise ValueError(f"columns must name three different columns (user, item, rating), got {columns!r}.")
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"The dataframe has no column {missing[0]!r} (columns={columns!r}); its columns are "
                             f"{names}. Pass columns=(user, item, rating) naming three of them.")
        frame = data[columns]
        return list(frame.to_delayed()), frame._meta.iloc[:0, :2]
    if isinstance(data, da.Array):
        if data.ndim != 2 or np.isnan(data.shape[1]) or data.shape[1] < 3:
            raise ValueError(f"A Dask array must be 2-D with at least 3 columns (user, item, rating); got shape "
                             f"{data.shape}.")
        columns = [0, 1, 2] if columns is None else list(columns)
        if len(columns) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c < data.shape[1] for c in columns):
            raise ValueError(f"For a Dask array, columns must be three column positions in [0, {data.shape[1]}); "
                             f"got {columns!r}.")
        array = data[:, columns].rechunk({1: -1})
        return list(array.to_delayed().ravel()), np.empty((0, 2), dtype=data.dtype)
    raise TypeError(
        f"recfreq.dask.fit takes a dask.dataframe.DataFrame or a 2-D dask.array.Array of (user, item, rating) rows; "
        f"got {type(data).__name__}. For data in memory, call the estimator's own fit(X, y), or wrap a pandas frame "
        "with dask.dataframe.from_pandas(frame, npartitions=...)."
    )


def fit(estimator, data, *, columns=None, client=None, n_stripes=None, keep_seen=True, return_report=False):
    """Fit a MatrixFactorization on a Dask cluster with distributed SGD (DSGD).

    Parameters
    ----------
    estimator : MatrixFactorization
        Trained in place with its own parameters (``n_factors``, ``solver``,
        ``learning_rate``, ``max_iter``, ``tol``, ``random_state``, ...;
        ``warm_start=True`` continues a fitted model). ``n_jobs`` is the number of
        threads each block trains with on its worker. Not supported:
        a ranking ``loss``, ``embedding_dims="mixed"``, ``device="cuda"``,
        ``early_stopping=True``.
    data : dask.dataframe.DataFrame or dask.array.Array
        One row per rating: user id, item id, rating, partitioned any way.
        Ids are integers or strings, of one kind per column in every partition.
    columns : sequence of 3 column names (positions for an array), default=None
        The user, item and rating columns; None takes the first three.
    client : distributed.Client, default=None
        The cluster to train on; None uses the current client (``distributed.default_client()``).
    n_stripes : int, default=None
        d, the stripes users and items are cut into (d x d blocks, d strata per
        epoch). None: one per worker. More stripes than workers put neighbouring
        stripes on one worker, whose threads may then train its blocks of a
        stratum at the same time.
    keep_seen : bool, default=True
        Gather the (user, item) pairs of the data into ``user_items_``, which
        ``recommend(exclude_seen=True)`` excludes (8 bytes per distinct pair
        reach the client). False leaves ``user_items_`` empty.
    return_report : bool, default=False
        Also return a :class:`DSGDReport`: the blocks, each epoch's time,
        kernel time and bytes moved against the traffic model.

    Returns
    -------
    estimator : MatrixFactorization
        The estimator, fitted (NumPy attributes, as after ``estimator.fit``).
    report : DSGDReport
        Only with ``return_report=True``.

    Raises
    ------
    TypeError, ValueError
        A model or settings DSGD does not train, data that is not a Dask
        collection, a missing column, NaN ratings, ids of different kinds
        across partitions... raised before any rating is shipped, with the
        partition named; the estimator is left as it was.
    FloatingPointError
        Training diverged; the estimator is left as it was.

    Notes
    -----
    The steps, with d stripes and W workers:

    1. Every partition is checked (ids and ratings, as ``fit`` checks ``X``
       and ``y``), its ids and their counts listed, and the lists merged on the
       cluster into the encoders, which the client fits (ids are numbered as
       ``fit`` numbers them); the rows are dealt to stripes by decreasing count
       so that stripes hold about equal numbers of ratings.
    2. Each partition is split by user stripe and each piece sent to the
       worker of its stripe, where the stripe's d blocks are built: the ratings
       move once and stay there.
    3. The starting stripes (factors, biases, solver state) are scattered to
       their workers. Each epoch, block (a, b) of stratum s runs where user
       stripe a is, on a copy of its stripes (a task Dask runs again after a
       lost worker starts from the same inputs), with the clock of a serial
       epoch: stratum s starts at the samples of the strata before it, and a
       block of n_b of its N_s samples advances by N_s / n_b per sample (an
       exact ratio of integers, see :doc:`/scaling_out`). Only item stripes move
       between strata: with user stripes in contiguous ranges per worker, about
       min(d, W) item tables (and their state) per epoch.
    4. After each epoch the driver reads each block's loss and the largest
       row norms and biases (the divergence check); at the end it gathers the
       stripes into the estimator's tables.

    With d = 1 and one thread, the fit is ``estimator.fit`` with ``n_jobs=1``,
    bit for bit (for ratings whose float64 sum is exact, such as stars); with
    any d, it is the DSGD schedule run in one process, bit for bit. A lost
    worker costs time, not correctness: Dask reruns lost tasks from their
    inputs, and data that cannot be recomputed (the scattered starting
    stripes) makes the call replay its epochs from its start. The data must
    then be recomputable (read from storage or built in the graph), as Dask
    collections are.
    """
    _, distributed = _import_dask()
    if client is None:
        try:
            client = distributed.default_client()
        except ValueError:
            raise ValueError("recfreq.dask.fit needs a Dask client: start one (distributed.Client(...)) or pass "
                             "client=.") from None
    # what can be refused without touching the cluster is refused first
    check_estimator(estimator)
    estimator._validate_params()
    executor = _DaskExecutor(client)
    n_stripes = len(executor.workers()) if n_stripes is None else check_stripes(n_stripes)
    partitions, X_meta = _partitions(data, columns)
    token = uuid.uuid4().hex[:8]
    # each partition computed once, checked, split and then let go (its lineage
    # stays with the blocks built from it, for Dask to recompute a lost block)
    estimator, report = run(estimator, executor, client.compute(partitions), n_stripes=n_stripes, X_meta=X_meta,
                            keep_seen=keep_seen, token=token)
    return (estimator, report) if return_report else estimator
