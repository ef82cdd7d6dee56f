/* Left-packing of AVX2 lanes without a branch per selected entry: for a compare mask m,
   saelab_pack[m] is a permutation that moves the selected lanes, in order, to the front. Selection
   kernels store all eight permuted lanes and advance by popcount(m), so no mispredicted branch per
   kept entry (which costs more than the selection itself at an SAE's sparsity) ever happens. Call
   saelab_pack_ready() once per kernel call before reading the table (defined in sparse_topk.c). */
#ifndef SAELAB_PACK_H
#define SAELAB_PACK_H
#include <stdint.h>

extern int32_t saelab_pack[256][8];
void saelab_pack_ready(void);
#endif
