"""Solver names, their integer codes and the per-row state each one keeps.

The compiled per-row step lives in ``_kernels/cpu/solvers.pxd`` (and its CUDA mirror ``_kernels/cuda/solvers.cuh``);
this module owns everything around it that is not per-sample work: the mapping
from the public ``solver`` string to the code the kernels switch on, and the
arrays of optimizer state that must survive between epochs, ``partial_fit``
calls and pickling.
"""

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

__all__ = ["Solver", "SOLVER_NAMES", "ADAGRAD_EPSILON", "TableState"]

#: Added to Adagrad's root accumulator. Small enough not to damp real gradients
#: in float32, large enough that a zero gradient on a fresh row gives a zero step.
ADAGRAD_EPSILON = 1e-8

class Solver(IntEnum):
    """Integer codes of the solvers, identical to the enum in ``_solvers.pxd``."""

    SGD = 0
    FA_SGD = 1
    CF_SGD = 2
    ADAGRAD = 3

    @classmethod
    def from_name(cls, name):
        """Map a public solver name (``"fa-sgd"``) to its code."""
        try:
            return _BY_NAME[name]
        except KeyError:
            raise ValueError(
                f"Unknown solver {name!r}; expected one of {sorted(_BY_NAME)}."
            ) from None

    @property
    def public_name(self):
        return self.name.lower().replace("_", "-")


_BY_NAME = {s.public_name: s for s in Solver}
SOLVER_NAMES = tuple(_BY_NAME)


def _empty(dtype):
    return np.empty(0, dtype=dtype)


@dataclass
class TableState:
    """Optimizer state of one embedding table (users, items, ...).

    Only the arrays the solver needs are allocated; the others stay empty, and
    the kernels receive NULL for them.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_rows,)
        Training samples that contain each row, n_r (all solvers keep it: it is
        cheap and it is what ``fa-sgd`` and mixed-dimension embeddings need).
    n_samples : int
        N, the number of training samples the counts were taken over.
    counter : ndarray of float64
        ``cf-sgd``: the per-row visit counter c_r.
    last_seen : ndarray of int64
        ``cf-sgd`` with ``counter_halflife``: step of the row's last visit.
    accumulators : dict of str to ndarray
        ``adagrad``: sum of squared gradients per parameter block of the row
        (e.g. ``"factors"`` of shape (n_rows, k) and ``"bias"`` of shape (n_rows,)).
    """

    solver: Solver
    counts: np.ndarray
    n_samples: int = 0
    counter: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    last_seen: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    accumulators: dict = field(default_factory=dict)

    @classmethod
    def allocate(cls, solver, n_rows, blocks, dtype, track_last_seen=False):
        """New state for a table of ``n_rows`` rows.

        Parameters
        ----------
        solver : Solver
        n_rows : int
        blocks : dict of str to tuple of int
            Shape of each parameter block per row, e.g. ``{"factors": (k,),
            "bias": ()}``; Adagrad keeps one accumulator per coordinate.
        dtype : numpy dtype
            Dtype of the parameters (accumulators match it).
        track_last_seen : bool
            Allocate last-visit stamps (``cf-sgd`` with a half-life).
        """
        state = cls(solver=Solver(solver), counts=np.zeros(n_rows, dtype=np.int64))
        if state.solver == Solver.CF_SGD:
            state.counter = np.zeros(n_rows, dtype=np.float64)
            if track_last_seen:
                state.last_seen = np.zeros(n_rows, dtype=np.int64)
        if state.solver == Solver.ADAGRAD:
            state.accumulators = {
                name: np.zeros((n_rows, *shape), dtype=dtype) for name, shape in blocks.items()
            }
        return state

    def for_solver(self, solver, blocks, dtype, track_last_seen, t):
        """This state made to fit ``solver`` (a new object when anything must change).

        The counts (every solver keeps them) carry over. When the solver
        changed since the state was allocated, the new solver's arrays start
        fresh: Adagrad's accumulators at zero, cf-sgd's counters at zero. A
        half-life added to cf-sgd after fitting stamps every row with ``t``,
        so the counters decay from now on; one removed keeps the stamps.
        """
        solver = Solver(solver)
        fresh = TableState.allocate(solver, self.n_rows, blocks, dtype, track_last_seen)
        fresh.counts, fresh.n_samples = self.counts, self.n_samples
        if solver != self.solver:
            return fresh
        state = TableState(solver=solver, counts=self.counts, n_samples=self.n_samples, counter=self.counter,
                           last_seen=self.last_seen, accumulators=dict(self.accumulators))
        if solver == Solver.CF_SGD and track_last_seen and state.last_seen.shape[0] != self.n_rows:
            state.last_seen = np.full(self.n_rows, int(t), dtype=np.int64)
        if solver == Solver.ADAGRAD:
            for name, accum in fresh.accumulators.items():
                if state.accumulators.get(name, accum).shape != accum.shape or accum.dtype != np.dtype(dtype):
                    state.accumulators[name] = accum
            state.accumulators = {name: state.accumulators[name] for name in fresh.accumulators}
        return state

    @property
    def n_rows(self):
        return self.counts.shape[0]

    def add_counts(self, row_index):
        """Count the rows of a new batch of training samples (fit or partial_fit)."""
        self.counts += np.bincount(row_index, minlength=self.n_rows).astype(np.int64)
        self.n_samples += int(row_index.shape[0])

    def frequency(self):
        """p_r = n_r / N as float64 (what ``fa-sgd`` reads), or an empty array."""
        if self.solver != Solver.FA_SGD:
            return _empty(np.float64)
        return self.counts / max(self.n_samples, 1)

    def grow(self, n_rows):
        """Extend every per-row array to ``n_rows`` rows; new rows start fresh."""
        extra = n_rows - self.n_rows
        if extra <= 0:
            return

        def pad(a):
            if a.shape[0] == 0 and a is not self.counts:
                return a
            return np.concatenate([a, np.zeros((extra, *a.shape[1:]), dtype=a.dtype)])

        self.counts = pad(self.counts)
        self.counter = pad(self.counter)
        self.last_seen = pad(self.last_seen)
        self.accumulators = {name: pad(a) for name, a in self.accumulators.items()}

    def accumulator(self, name, dtype):
        """The Adagrad accumulator of block ``name`` or an empty array."""
        return self.accumulators.get(name, _empty(dtype))

    @property
    def nbytes(self):
        """Bytes of the state the solver reads: fa-sgd's counts, cf-sgd's counters
        (and stamps), Adagrad's accumulators; plain SGD needs none.

        (Every solver keeps the counts, which mixed-dimension tables and
        ``partial_fit`` use, but only fa-sgd's steps depend on them.)
        """
        size = self.counter.nbytes + self.last_seen.nbytes
        if self.solver == Solver.FA_SGD:
            size += self.counts.nbytes
        return size + sum(a.nbytes for a in self.accumulators.values())
