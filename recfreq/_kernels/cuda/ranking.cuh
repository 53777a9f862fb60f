// The ranking losses of the implicit-feedback kernels (mf_ranking_epoch,
// fm_ranking_epoch). Their codes come from the host, which injects
// recfreq._ranking_losses.LOSS_CODES (#define LOSS_LOGISTIC 0 ...), so Python
// and CUDA agree on them as they do on the solver codes; the Cython kernels
// number them alike (a test compares the three).
#pragma once

#if !defined(LOSS_LOGISTIC) || !defined(LOSS_BPR) || !defined(LOSS_WARP)
#error "the host injects the ranking loss codes (LOSS_LOGISTIC, LOSS_BPR, LOSS_WARP)"
#endif
