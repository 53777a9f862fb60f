// Sampled negatives for the models trained on implicit feedback (NeuralCF, the
// ranking losses of MatrixFactorization and the factorization machine): the
// GPU side of ../cpu/negatives.pxd, function for function, so both devices
// draw the same items. An item the row's user has no training interaction
// with, drawn from the counter-based generator of rng.cuh, so the draw depends
// on (key, the row's own index, the negative's number) and never on the
// thread that makes it.
//
// Negative s (s >= 1) of a row first tries word (s - 1) mod 4 of block
// (s - 1) / 4 of the row's stream STREAM_FIRST_TRIES, so one Philox call
// serves the first tries of four negatives; when that candidate is refused (a
// positive of the user, or a word Lemire's bounded draw would reject) the
// negative goes on with its own stream negative_stream(s). Each negative is a
// function of (row, s) alone, so every lane of a warp that draws it itself
// gets the same item without a shuffle.
//
// The functions trust their arguments: positives is the user's sorted row of
// training items, n_items >= 1.
#pragma once

#include "rng.cuh"

// uniform draws tried before the exact (rank-mapping) fallback of a dense user
#define MAX_REJECTIONS 32
// stream 0 of a row (whose emitted sample 0, the row itself, draws no
// negative) holds its negatives' first tries
#define STREAM_FIRST_TRIES 0u

// The stream of a row's s-th negative (s >= 1); odd streams are left to other draws.
__device__ __forceinline__ unsigned int negative_stream(int s) { return 2u * static_cast<unsigned int>(s); }

// Binary search in one user's sorted row of training positives.
__device__ __forceinline__ bool contains_item(const int* sorted_items, long long n, int item) {
    long long lo = 0, hi = n;
    while (lo < hi) {
        const long long mid = (lo + hi) >> 1;
        if (sorted_items[mid] < item) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && sorted_items[lo] == item;
}

// An item in [0, n_items) that is not in the user's sorted `positives`, from `rng`:
// uniform draws rejected while they hit a positive; after MAX_REJECTIONS misses
// the r-th non-positive item for a uniform r (exact, never a positive); a user
// holding every item gets a uniform item (there is no negative to give).
__device__ __forceinline__ int sample_negative_from(RngStream& rng, const int* positives, long long n_pos,
                                                    int n_items) {
    if (n_pos >= n_items) {
        return static_cast<int>(rng_bounded(rng, static_cast<unsigned int>(n_items)));
    }
    for (int tries = 0; tries < MAX_REJECTIONS; ++tries) {
        const int j = static_cast<int>(rng_bounded(rng, static_cast<unsigned int>(n_items)));
        if (!contains_item(positives, n_pos, j)) {
            return j;
        }
    }
    int j = static_cast<int>(rng_bounded(rng, static_cast<unsigned int>(n_items - n_pos)));
    for (long long a = 0; a < n_pos; ++a) {
        // every positive at or below the candidate pushes it one further
        if (positives[a] <= j) {
            j = j + 1;
        } else {
            break;
        }
    }
    return j;
}

// A negative item of the row's user: `first_try` (a 32-bit word) mapped onto
// [0, n_items) by Lemire's multiply-shift when that method would keep the word
// (so it stays unbiased) and the item is not a positive (a user holding every
// item keeps any item), else the draws of the negative's own (`row`, `stream`).
__device__ __forceinline__ int sample_negative(unsigned int first_try, unsigned long long key, long long row,
                                               unsigned int stream, const int* positives, long long n_pos,
                                               int n_items) {
    const unsigned long long m = static_cast<unsigned long long>(first_try) * static_cast<unsigned int>(n_items);
    const unsigned int low = static_cast<unsigned int>(m);
    const unsigned int n = static_cast<unsigned int>(n_items);
    if (low >= n || low >= (0u - n) % n) {
        const int j = static_cast<int>(m >> 32);
        if (n_pos >= n_items || !contains_item(positives, n_pos, j)) {
            return j;
        }
    }
    RngStream rng = rng_stream(key, row, stream);
    return sample_negative_from(rng, positives, n_pos, n_items);
}
