/*
 * vtprune — the C ABI of the visual-token pruning kernels.
 *
 * One header for every op family (K1..K5 of docs/design.md §3). The CPU implementations in
 * src/main/cpp/cpu and the CUDA implementations in src/main/cuda implement exactly these
 * functions; each entry point dispatches on the device of its views.
 *
 * Conventions shared by every op
 *  - No entry point lets a C++ exception escape (a binding may call them as noexcept: the Java
 *    one is @NoException). The ops return a vt_status; on failure vt_last_error() (thread-local)
 *    names the op and the offending argument.
 *  - Every op takes its tensors as vt_tensor views (below) and its scalars as one op-specific
 *    params struct (a NULL params pointer is VT_ERR_INVALID_ARGUMENT):
 *        int32_t vt_<op>(void* stream, const vt_tensor* <input>..., const vt_tensor* <output>...,
 *                        const vt_<op>_params* params[, void* workspace, size_t workspace_bytes]);
 *    inputs first, then outputs, in the order the header documents them; the op runs on the
 *    device of its views, which must all agree. Views are passed by pointer (a view is 88 bytes;
 *    by value every call would copy them onto the stack) and as const: the library never writes
 *    a view, only the memory an output view points at. The scalars travel in a struct so that a
 *    call site names every field, and an op can gain a field without re-ordering a long list.
 *  - A view whose device is -1 is host memory and the call runs on the CPU, returning when the
 *    work is done. device >= 0 is that CUDA device: the work is enqueued on `stream` (a
 *    cudaStream_t; NULL is the legacy default stream) and the call returns without
 *    synchronising. On the CUDA path every data pointer (inputs, offsets, outputs, workspace) is
 *    device memory of that device.
 *  - Inputs are fp32, fp16 or bf16 (vt_dtype); accumulation is fp32 (K1 cosines: fp64);
 *    score outputs are fp32, indices int64.
 *  - Ragged batches are flat arrays plus int64 offsets: segment i owns [off[i], off[i+1]).
 *  - The library checks every view of a call on the host before it dispatches (NULL views, rank,
 *    dtype, sizes that agree across the call's views, one device, the documented strides), and
 *    re-checks what is cheap on the host side (enum values, offsets in host memory); it reports
 *    data errors it meets on its pass (NaN / Inf scores). It cannot check that a buffer is as long
 *    as its view says: that remains the caller's contract.
 *  - Sizes whose products (element counts, bytes, extents of strided tensors) overflow int64
 *    are VT_ERR_INVALID_ARGUMENT; the *_workspace_bytes() queries answer SIZE_MAX for them.
 *  - The Q/K forms (K3, K4, K5) compute attention logits scale * q . k: a logit that is not
 *    finite (Inf / NaN in q or k, or a dot product that overflows float32) is
 *    VT_ERR_NONFINITE on the CPU path and makes the affected outputs NaN on the CUDA
 *    path (cls_row for K3, the image's out for K4, the tile's out for K5). K3 reads only the
 *    rows whose chain weight is non-zero (weights below e^-87.3 flush to 0): a non-finite value
 *    in a row it skips cannot change the result and is not reported.
 *  - Ops that need scratch memory on the CUDA path take a caller-allocated `workspace` whose
 *    size comes from the matching *_workspace_bytes() query (0 on the CPU path: host views). A
 *    workspace is raw bytes, not a tensor, so it is a pointer and a byte count, not a view.
 */
#ifndef VTPRUNE_VTPRUNE_H
#define VTPRUNE_VTPRUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VT_API __declspec(dllexport)
#else
#define VT_API __attribute__((visibility("default")))
#endif

/* ========================================================================================
 * Common
 * ======================================================================================== */

typedef enum vt_status {
    VT_OK = 0,
    VT_ERR_INVALID_ARGUMENT = 1, /* a size, pointer, enum or data value is out of contract   */
    VT_ERR_UNSUPPORTED = 2,      /* a valid request this build cannot serve                  */
    VT_ERR_CUDA_UNAVAILABLE = 3, /* CUDA path asked for, but no CUDA build / driver / device */
    VT_ERR_CUDA = 4,             /* a CUDA runtime call or kernel launch failed              */
    VT_ERR_OUT_OF_MEMORY = 5,    /* host allocation failed                                   */
    VT_ERR_INTERNAL = 6,         /* a bug: an invariant of the implementation did not hold   */
    VT_ERR_NONFINITE = 7         /* finite inputs whose intermediates overflowed (bad input) */
} vt_status;

/* Element types. Op inputs are VT_FLOAT32 / VT_FLOAT16 / VT_BFLOAT16; VT_INT64 is for the views
 * of offsets, positions, budgets and indices. */
typedef enum vt_dtype { VT_FLOAT32 = 0, VT_FLOAT16 = 1, VT_BFLOAT16 = 2, VT_INT64 = 3 } vt_dtype;

/* The most dimensions a view has (K3's [num_seqs, heads, tokens, tokens] layers). */
#define VT_MAX_DIMS 4

/* A view of one tensor argument, in the spirit of DLPack's DLTensor (but ours: a fixed-size
 * struct of plain fields, no allocation, no deleter). Layout (x86-64 and every 64-bit ABI we
 * build for; api.cpp static_asserts it, dev.vtprune.ops.NativeViews writes it):
 *   offset  0  data     first element (element (i0, i1, ...) is at data + sum_d i_d * strides[d]
 *                       elements); may be NULL only when the view has no elements.
 *   offset  8  dtype    a vt_dtype.
 *   offset 12  device   -1: host memory; d >= 0: memory of CUDA device d. Every view of a call
 *                       must name the same device, and that is where the op runs.
 *   offset 16  ndim     rank, 0..VT_MAX_DIMS; each op states the rank of each argument.
 *   offset 20  reserved must be 0 (room for flags without a layout change).
 *   offset 24  shape    sizes, shape[0] outermost; only the first ndim entries are read; >= 0.
 *   offset 56  strides  in elements, not bytes; only the first ndim entries are read. Unless an
 *                       op documents an argument as "strided", its strides must be the
 *                       contiguous row-major ones (strides[ndim-1] = 1, strides[d] =
 *                       strides[d+1] * shape[d+1]; any stride of a dimension of size 1): a
 *                       transposed or sliced view is refused, naming the argument, rather than
 *                       read as if it were contiguous. "Strided" arguments need the last
 *                       stride 1 and the others >= 0.
 *   size 88.
 */
typedef struct vt_tensor {
    void* data;
    int32_t dtype;
    int32_t device;
    int32_t ndim;
    int32_t reserved;
    int64_t shape[VT_MAX_DIMS];
    int64_t strides[VT_MAX_DIMS];
} vt_tensor;

/* How attention is reduced over heads (PTP: MEAN) and over instruction tokens (PTP: MAX). */
typedef enum vt_reduce { VT_REDUCE_MEAN = 0, VT_REDUCE_MAX = 1 } vt_reduce;

/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
VT_API const char* vt_last_error(void);

/* Library version: the <version> of the project's pom.xml (e.g. "0.1.0-SNAPSHOT"), the one
 * place it is defined; the build passes it in. */
VT_API const char* vt_version(void);

/* The ABI this header describes. Raised whenever a signature, struct layout or the meaning of a
 * code changes; a binding compiled against one value must refuse a library that reports another
 * (dev.vtprune.ops.NativeLibrary.load does). */
#define VT_ABI_VERSION 2

/* The ABI the loaded library was built with (VT_ABI_VERSION of its header). */
VT_API int32_t vt_abi_version(void);

/* 1 if this library was built with CUDA kernels, else 0. */
VT_API int32_t vt_cuda_compiled(void);

/* Number of usable CUDA devices: 0 without a CUDA build, a driver or a device. Never fails. */
VT_API int32_t vt_cuda_device_count(void);

/* Threads used by the CPU kernels (default: hardware concurrency, or VTPRUNE_NUM_THREADS, both
 * capped at 256); 0 when the thread pool cannot be created (vt_last_error says why).
 * vt_set_num_threads accepts 1 to 256 (VT_ERR_INVALID_ARGUMENT otherwise). */
VT_API int32_t vt_get_num_threads(void);
VT_API int32_t vt_set_num_threads(int32_t threads);

/* Blocks the host until all work queued on `stream` of CUDA `device` is done (harnesses and
 * tests; the Java layer synchronises through LibTorch). No-op for device < 0. */
VT_API int32_t vt_synchronize(int32_t device, void* stream);

/* ========================================================================================
 * K1 — fused cosine region scoring and token budgets (design §3 K1)
 *
 * A batch of num_images images. Image b owns tiles [tile_offsets[b], tile_offsets[b+1]) of
 * the flat tile list: its T_b >= 0 local tiles first, its thumbnail last (so every image has
 * at least one tile). Tile i owns tokens [token_offsets[i], token_offsets[i+1]).
 *
 * Views (all contiguous):
 *   cls           [num_tiles, dim] fp32 / fp16 / bf16: the CLS embedding per tile; dim >= 1.
 *   tile_offsets  [num_images + 1] int64, num_images >= 1; ends at num_tiles.
 *   token_offsets [num_tiles + 1] int64.
 * Outputs, [num_tiles] each:
 *   scores  (fp32)  s_t = cos(cls_t, cls_thumbnail) for local tiles; 1 for the thumbnail.
 *   weights (fp32)  p_t = softmax(s / temperature) over the image's local tiles; 0 for the
 *                   thumbnail.
 *   budgets (int64) K_t; thumbnail K_g = floor(keep * n_g + 0.5); local tiles split
 *                   K_L = floor(keep * N_L + 0.5) by p with caps at n_t, floors, and the
 *                   remainder to the largest fractional parts (ties: lower tile index).
 * NaN / Inf in the CLS rows fails with VT_ERR_INVALID_ARGUMENT on the CPU path; the CUDA path
 * (which cannot fail the call: it returns before the work runs) leaves a NaN score on each
 * affected local tile and budgets of -1 on its image. The Java layer reads the scores and throws
 * the CPU path's message for the lowest such tile (dev.vtprune.ops.RegionBudget).
 * CUDA: one launch for the whole batch.
 * ======================================================================================== */
typedef struct vt_region_budget_params {
    double keep_ratio;    /* 1 - r, in [0, 1] */
    double temperature;   /* softmax temperature: finite, >= DBL_MIN (subnormals overflow
                             s / temperature); 1 = the paper's form */
    int64_t min_per_tile; /* tokens reserved per local tile before the proportional split (>= 0);
                             lowered to floor(K_L / T) when the reservation would exceed K_L */
} vt_region_budget_params;

VT_API int32_t vt_region_budget(void* stream, const vt_tensor* cls, const vt_tensor* tile_offsets,
                                const vt_tensor* token_offsets, const vt_tensor* scores,
                                const vt_tensor* weights, const vt_tensor* budgets,
                                const vt_region_budget_params* params);

/* ========================================================================================
 * K2 — segmented top-k per tile: fused min-max normalise + alpha fusion + selection
 *      (design §3 K2)
 *
 * Views (all contiguous):
 *   bottom_up      [N] fp32 / fp16 / bf16 per-token scores.
 *   instruction    [N] the same dtype, or a NULL view (then alpha must be 0).
 *   token_offsets  [num_tiles + 1] int64; tile i owns tokens [token_offsets[i], token_offsets[i+1]),
 *                  ending at N; keeps min(budgets[i], n_i).
 *   budgets        [num_tiles] int64.
 * normalize = 1: per tile x^ = (x - min) / (max - min), or 0 for the whole tile when
 *                max - min <= 1e-12; f = (1 - alpha) * b^ + alpha * c^.
 * normalize = 0: f = (1 - alpha) * b + alpha * c (the plain form is alpha = 0).
 * Selection: the budgets[i] largest f of each tile, ties to the lower index.
 * Outputs:
 *   fused          (fp32, may be a NULL view) [N] the fused scores f.
 *   kept           (int64) [N]: the kept global token indices in ascending order first,
 *                  then -1 in every remaining entry.
 *   kept_per_tile  (int64) [num_tiles] tokens kept per tile.
 * A NaN or infinite score, or a negative budget, fails with VT_ERR_INVALID_ARGUMENT on the CPU
 * path. The CUDA path cannot report data errors synchronously: it sets kept_per_tile[i] = -1
 * for such a tile (keeping nothing of it), and the caller checks when it reads the counts.
 * CUDA: one launch for the whole batch.
 * ======================================================================================== */
typedef struct vt_fused_topk_params {
    float alpha;       /* weight of the instruction scores, in [0, 1] */
    int32_t normalize; /* 1: min-max normalise each tile's scores first; 0: fuse the raw scores */
} vt_fused_topk_params;

VT_API int32_t vt_fused_topk(void* stream, const vt_tensor* bottom_up, const vt_tensor* instruction,
                             const vt_tensor* token_offsets, const vt_tensor* budgets,
                             const vt_tensor* fused, const vt_tensor* kept,
                             const vt_tensor* kept_per_tile, const vt_fused_topk_params* params);

/* ========================================================================================
 * K3 — attention rollout matrix chains (design §3 K3, IVTP eq. 3 and 4)
 *
 * A group of num_layers layers l1..l2 over num_seqs sequences (tiles) of tokens (M >= 2)
 * tokens each, CLS at index 0, heads (H) heads. Views:
 *   layers     a host array of num_layers views, layer l1 first; each [num_seqs, H, M, M]
 *              fp32 / fp16 / bf16 attention probabilities (rows are softmax distributions),
 *              contiguous; every layer of the shape and dtype of layers[0].
 *              Heads are averaged: A_l = mean_h.
 *                IVTP:  R = A_l1;  R = B_l R for l = l1+1..l2, B_l = rownorm(A_l + I).
 *                ABNAR: R = I;     R = B_l R for l = l1..l2.
 *   values     [num_seqs, M, value_dim] (the layers' dtype, contiguous) value vectors at layer
 *              l2 (all heads concatenated), or a NULL view.
 * Outputs (fp32, contiguous):
 *   cls_row    [num_seqs, M]     the CLS row of R (index 0 = CLS itself).
 *   importance [num_seqs, M - 1] S_i = r_i |V_i| / sum_j r_j |V_j| over patches i >= 1
 *              (r_i / sum r without values); all zeros when the sum is 0.
 * workspace: raw device scratch of workspace_bytes >= the matching *_workspace_bytes() bytes on
 * the CUDA path (NULL and 0 on the CPU path).
 * ======================================================================================== */
typedef enum vt_rollout_mode { VT_ROLLOUT_IVTP = 0, VT_ROLLOUT_ABNAR = 1 } vt_rollout_mode;

typedef struct vt_rollout_params {
    int64_t num_layers; /* >= 1: the length of the layers array */
    int32_t mode;       /* a vt_rollout_mode */
} vt_rollout_params;

/* The workspace queries take the first layer's view (its device and sizes): 0 for a host view
 * or an invalid one (NULL, wrong rank, sizes < 1; the op reports those), SIZE_MAX when the
 * size overflows. */
VT_API size_t vt_rollout_workspace_bytes(const vt_tensor* layer);

VT_API int32_t vt_rollout(void* stream, const vt_tensor* layers, const vt_tensor* values,
                          const vt_tensor* cls_row, const vt_tensor* importance,
                          const vt_rollout_params* params, void* workspace, size_t workspace_bytes);

/* The full rollout matrix R, matrix [num_seqs, M, M] fp32 contiguous, for visualisation:
 * O(L M^3). */
VT_API size_t vt_rollout_matrix_workspace_bytes(const vt_tensor* layer);

VT_API int32_t vt_rollout_matrix(void* stream, const vt_tensor* layers, const vt_tensor* matrix,
                                 const vt_rollout_params* params, void* workspace,
                                 size_t workspace_bytes);

/* Flash-compatible form: the same CLS row from each layer's queries and keys (after any
 * positional encoding) without materialising an M x M matrix. q_layers / k_layers are host
 * arrays of num_layers views, each [num_seqs, H, M, head_dim] strided, all of the shape, dtype
 * and strides of q_layers[0] (the kernel takes one layout). Attention is softmax(scale q k^T)
 * over all M keys (no mask), and B_l = (A_l + I) / 2 exactly since its rows sum to 1. values,
 * cls_row, importance as in vt_rollout. Memory O(num_seqs * H * M). */
typedef struct vt_rollout_qk_params {
    int64_t num_layers; /* >= 1 */
    float scale;        /* logit scale, finite and > 0 */
    int32_t mode;       /* a vt_rollout_mode */
} vt_rollout_qk_params;

VT_API size_t vt_rollout_qk_workspace_bytes(const vt_tensor* q_layer);

VT_API int32_t vt_rollout_qk(void* stream, const vt_tensor* q_layers, const vt_tensor* k_layers,
                             const vt_tensor* values, const vt_tensor* cls_row,
                             const vt_tensor* importance, const vt_rollout_qk_params* params,
                             void* workspace, size_t workspace_bytes);

/* ========================================================================================
 * K4 — max-over-text reduction of instruction-to-visual attention (design §3 K4, PTP eq. 4)
 *
 * Image b has Q_b = query_offsets[b+1] - query_offsets[b] instruction queries and
 * N_b = visual_offsets[b+1] - visual_offsets[b] visual tokens.
 * c_v = text_reduce_q ( head_reduce_h P[h, q, v] ); PTP: head MEAN, text MAX.
 *
 * From probabilities. Views (all contiguous):
 *   attn           [sum_b heads * Q_b * N_b] fp32 / fp16 / bf16: the concatenation over images
 *                  of [heads, Q_b, N_b] blocks (instruction rows restricted to the visual
 *                  columns, softmaxed over all keys).
 *   query_offsets  [num_images + 1] int64, num_images >= 1.
 *   visual_offsets [num_images + 1] int64, ending at sum N_b.
 *   out            [sum N_b] fp32.
 * The CPU path checks attn's and out's lengths against the offsets; the CUDA path cannot (the
 * offsets are device memory there).
 * ======================================================================================== */
typedef struct vt_text_relevance_params {
    int64_t heads;       /* >= 1 */
    int32_t head_reduce; /* a vt_reduce */
    int32_t text_reduce; /* a vt_reduce */
} vt_text_relevance_params;

VT_API int32_t vt_text_relevance(void* stream, const vt_tensor* attn, const vt_tensor* query_offsets,
                                 const vt_tensor* visual_offsets, const vt_tensor* out,
                                 const vt_text_relevance_params* params);

/* Flash-compatible form from queries and keys (post-RoPE). Views (q and k of one dtype):
 *   q              [q_heads, total_queries, head_dim] strided; image b owns query rows
 *                  [query_offsets[b], query_offsets[b+1]).
 *   k              [kv_heads, total_keys, head_dim] strided; image b owns key rows
 *                  [key_offsets[b], key_offsets[b+1]). Query head h uses kv head
 *                  h / (q_heads / kv_heads) (GQA): kv_heads divides q_heads.
 *   query_offsets  [num_images + 1] int64, ending at total_queries; num_images >= 1.
 *   key_offsets    [num_images + 1] int64, ending at total_keys.
 *   query_pos      [total_queries] int64: the position of query row r inside its image's keys.
 *   visual_offsets [num_images + 1] int64, ending at total_visual.
 *   visual_pos     [total_visual] int64: likewise for visual token v.
 *   out            [total_visual] fp32.
 * Softmax over keys j <= pos_q (causal); probabilities are read at visual positions only
 * (0 where pos_v > pos_q). workspace: workspace_bytes >= vt_text_relevance_qk_workspace_bytes(q)
 * bytes of device memory on the CUDA path (it is not a view: raw scratch bytes; NULL and 0 on
 * the CPU path). Memory O(q_heads * total_queries) workspace, never O(Q * L).
 * ======================================================================================== */
typedef struct vt_text_relevance_qk_params {
    float scale;         /* logit scale, finite and > 0 */
    int32_t head_reduce; /* a vt_reduce */
    int32_t text_reduce; /* a vt_reduce */
} vt_text_relevance_qk_params;

/* The workspace the CUDA path needs for queries `q` (its device, q_heads = shape[0] and
 * total_queries = shape[1]): 0 for a host view or an invalid one (NULL, not rank 3, negative
 * sizes; the op reports those), SIZE_MAX when the size overflows. */
VT_API size_t vt_text_relevance_qk_workspace_bytes(const vt_tensor* q);

VT_API int32_t vt_text_relevance_qk(void* stream, const vt_tensor* q, const vt_tensor* k,
                                    const vt_tensor* query_offsets, const vt_tensor* key_offsets,
                                    const vt_tensor* query_pos, const vt_tensor* visual_offsets,
                                    const vt_tensor* visual_pos, const vt_tensor* out,
                                    const vt_text_relevance_qk_params* params, void* workspace,
                                    size_t workspace_bytes);

/* ========================================================================================
 * K5 — ViT CLS attention saliency with patch pooling (design §3 K5, PTP eq. 3)
 *
 * Every tile has a grid x grid patch grid; tokens after an m x m merge form a
 * (grid/m) x (grid/m) grid, token (i, j) at index i * (grid/m) + j summing patches
 * (m*i + a, m*j + b), a, b < m. grid % merge == 0.
 *
 * From attention rows. Views:
 *   attn [num_tiles, heads, row_len] fp32 / fp16 / bf16, contiguous: CLS rows; num_tiles,
 *        heads >= 1; the patches are entries first_patch .. first_patch + grid^2 - 1 of each row
 *        (first_patch = 1 when the row still holds the CLS column), row_len = first_patch + grid^2.
 *   out  [num_tiles, (grid/merge)^2] fp32, contiguous:
 *        pool_m( head_reduce_h attn[t, h, patch] ).
 * ======================================================================================== */
typedef struct vt_cls_saliency_params {
    int64_t first_patch; /* index of the first patch in a row (or among the keys), >= 0 */
    int64_t grid;        /* patch grid side, >= 1 */
    int64_t merge;       /* pooling side m, >= 1, divides grid */
    int32_t head_reduce; /* a vt_reduce */
} vt_cls_saliency_params;

VT_API int32_t vt_cls_saliency(void* stream, const vt_tensor* attn, const vt_tensor* out,
                               const vt_cls_saliency_params* params);

/* Flash-compatible form: the CLS row from q_cls and K of the layer. Views (same dtype):
 *   q_cls [num_tiles, heads, head_dim] strided: the CLS query of each tile and head.
 *   k     [num_tiles, heads, keys, head_dim] strided: keys j in [0, keys) (CLS included),
 *         keys >= first_patch + grid^2.
 *   out   [num_tiles, (grid/merge)^2] fp32, contiguous, as above.
 * Softmax over all keys of scale * q_cls . k_j; patches are keys first_patch ..
 * first_patch + grid^2 - 1. Memory O(keys).
 * ======================================================================================== */
typedef struct vt_cls_saliency_qk_params {
    int64_t first_patch, grid, merge; /* as in vt_cls_saliency_params */
    int32_t head_reduce;              /* a vt_reduce */
    float scale;                      /* logit scale, finite and > 0 (1 / sqrt(head_dim)) */
} vt_cls_saliency_qk_params;

VT_API int32_t vt_cls_saliency_qk(void* stream, const vt_tensor* q_cls, const vt_tensor* k,
                                  const vt_tensor* out, const vt_cls_saliency_qk_params* params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VTPRUNE_VTPRUNE_H */
