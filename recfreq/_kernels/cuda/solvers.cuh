// The per-row update shared by every model loop: the CUDA mirror of
// recfreq/_ext/_solvers.pxd, function for function and rule for rule.
//
// A training sample touches a few parameter rows. Each model kernel computes
// the gradient g_r of the sample's loss plus alpha * theta_r for the rows it
// touches, then calls
//
//     rate = row_learning_rate(cfg, state, r, t)     // ONE lane, once per row and sample
//     coordinate_step(cfg, &theta[f], g_f, &accum[f], rate)   // every coordinate f
//
// The split keeps the frequency bookkeeping (one number per row, which cf-sgd
// mutates) apart from the vector update that the lanes of a warp share. The
// solver codes are injected from recfreq._solvers.Solver by the host
// (#define SOLVER_SGD 0 ...), so Python, Cython and CUDA agree on them.
//
// Under Hogwild the cf-sgd counter and stamp are updated with atomics, so two
// warps stepping the same row never lose a visit; the single-warp launch the
// tests replay performs exactly the CPU's sequential arithmetic.
//
// The functions trust their arguments: the host validated every index.
#pragma once

#ifndef SOLVER_SGD
#error "the host injects the solver codes (SOLVER_SGD, SOLVER_FA_SGD, SOLVER_CF_SGD, SOLVER_ADAGRAD)"
#endif

struct SolverConfig {
    int kind;
    double learning_rate;       // eta
    double frequency_exponent;  // beta
    double counter_halflife;    // h, in samples; <= 0 means the counter never forgets
    double epsilon;             // Adagrad's epsilon
};

struct RowFrequencyState {
    // One table's per-row frequency bookkeeping; pointers the solver does not read may be null.
    const double* frequency;    // fa-sgd: p_r = n_r / N
    double* counter;            // cf-sgd: c_r
    long long* last_seen;       // cf-sgd with a half-life: t of the last visit
};

__device__ __forceinline__ SolverConfig solver_config(int kind, double learning_rate, double frequency_exponent,
                                                      double counter_halflife, double epsilon) {
    SolverConfig cfg;
    cfg.kind = kind;
    cfg.learning_rate = learning_rate;
    cfg.frequency_exponent = frequency_exponent;
    cfg.counter_halflife = counter_halflife;
    cfg.epsilon = epsilon;
    return cfg;
}

__device__ __forceinline__ RowFrequencyState frequency_state(const double* frequency, double* counter,
                                                             long long* last_seen) {
    RowFrequencyState state;
    state.frequency = frequency;
    state.counter = counter;
    state.last_seen = last_seen;
    return state;
}

// c <- c * scale + 1 in one atomic step; returns the new count.
__device__ __forceinline__ double atomic_scale_add_one(double* address, double scale) {
    unsigned long long* word = reinterpret_cast<unsigned long long*>(address);
    unsigned long long seen = *word, expected;
    double updated;
    do {
        expected = seen;
        updated = __longlong_as_double(static_cast<long long>(expected)) * scale + 1.0;
        seen = atomicCAS(word, expected, static_cast<unsigned long long>(__double_as_longlong(updated)));
    } while (seen != expected);
    return updated;
}

// Step size eta_r(t) of `row` at sample t (1-based, over the model's life).
//
// sgd and adagrad: eta (Adagrad scales per coordinate in coordinate_step).
// fa-sgd: eta * max(1, p_r * t) ** -beta.
// cf-sgd: increments the row's counter first, then eta * c_r ** -beta; with a
// half-life h the old count decays as c_r <- 1 + c_r * 2 ** (-(t - last) / h)
// (no decay when another warp already stamped a later t).
__device__ __forceinline__ double row_learning_rate(const SolverConfig& cfg, const RowFrequencyState& state,
                                                    long long row, long long t) {
    if (cfg.kind == SOLVER_FA_SGD) {
        const double expected = state.frequency[row] * static_cast<double>(t);
        if (expected <= 1.0) {
            return cfg.learning_rate;
        }
        return cfg.learning_rate * pow(expected, -cfg.frequency_exponent);
    }
    if (cfg.kind == SOLVER_CF_SGD) {
        double decay = 1.0;
        if (cfg.counter_halflife > 0.0) {
            // the stamp keeps the latest visit: an earlier t (another warp's
            // slice of the epoch) counts as simultaneous, as on the CPU
            const long long last = atomicMax(&state.last_seen[row], t);
            const long long elapsed = t - last;
            if (elapsed > 0) {
                decay = exp2(-static_cast<double>(elapsed) / cfg.counter_halflife);
            }
        }
        const double count = atomic_scale_add_one(&state.counter[row], decay);
        return cfg.learning_rate * pow(count, -cfg.frequency_exponent);
    }
    return cfg.learning_rate;
}

__device__ __forceinline__ float solver_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double solver_sqrt(double x) { return sqrt(x); }

// theta <- theta - rate * g, or the Adagrad step when cfg.kind says so:
// G <- G + g * g; theta <- theta - eta * g / (sqrt(G) + eps), with `accum`
// holding G for this coordinate.
template <typename T>
__device__ __forceinline__ void coordinate_step(const SolverConfig& cfg, T* theta, T g, T* accum, double rate) {
    const T eta = static_cast<T>(rate);
    const T eps = static_cast<T>(cfg.epsilon);
    if (cfg.kind == SOLVER_ADAGRAD) {
        const T total = *accum + g * g;
        *accum = total;
        *theta = *theta - eta * g / (solver_sqrt(total) + eps);
    } else {
        *theta = *theta - eta * g;
    }
}

// The same for a whole row, its coordinates split over `stride` lanes starting
// at `first` (a warp: first = lane, stride = 32; one thread: 0 and 1).
template <typename T>
__device__ __forceinline__ void row_step(const SolverConfig& cfg, T* theta, const T* grad, T* accum, int width,
                                         double rate, int first, int stride) {
    for (int f = first; f < width; f += stride) {
        coordinate_step(cfg, theta + f, grad[f], cfg.kind == SOLVER_ADAGRAD ? accum + f : nullptr, rate);
    }
}

// How a warp that steps a row together asks for its rate (GPU only: the CPU has
// one thread per row). cf-sgd's rate mutates the row's counter, so one lane
// computes it and the warp shares it; the other rules are pure functions of
// (row, t), which every lane computes itself (no shuffle).
__device__ __forceinline__ double warp_row_learning_rate(const SolverConfig& cfg, const RowFrequencyState& state,
                                                         long long row, long long t) {
    if (cfg.kind != SOLVER_CF_SGD) {
        return row_learning_rate(cfg, state, row, t);
    }
    double rate = 0.0;
    if ((threadIdx.x & 31u) == 0u) {
        rate = row_learning_rate(cfg, state, row, t);
    }
    return __shfl_sync(0xffffffffu, rate, 0);
}
