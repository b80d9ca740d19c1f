package dev.vtprune.bench;

/**
 * Real model shapes the benchmarks run at (design §8).
 *
 * <ul>
 *   <li>LLaVA-1.5: one 336 px view, CLIP ViT-L/14 (24 x 24 = 576 patches + CLS, 16 heads of 64),
 *       Vicuna-7B attention (32 heads of 128), 35 system + 576 visual + 64 instruction tokens;
 *   <li>InternVL2-2B: 12 tiles + thumbnail of 448 px, InternViT-300M (32 x 32 patches + CLS,
 *       16 heads of 64, 2 x 2 pixel shuffle: 256 tokens per tile), InternLM2-1.8B attention
 *       (16 query heads, 8 kv heads of 128), 20 system + 3328 visual + 64 instruction tokens.
 * </ul>
 */
public enum Shape {
    LLAVA(0, 24, 1, 16, 64, 1024, 32, 32, 128, 35, 64),
    INTERNVL(12, 32, 2, 16, 64, 1024, 16, 8, 128, 20, 64);

    public final int localTiles, grid, merge, vitHeads, vitDim, clsDim, lmHeads, lmKvHeads, lmDim, system, text;

    Shape(int localTiles, int grid, int merge, int vitHeads, int vitDim, int clsDim, int lmHeads, int lmKvHeads, int lmDim,
          int system, int text) {
        this.localTiles = localTiles;
        this.grid = grid;
        this.merge = merge;
        this.vitHeads = vitHeads;
        this.vitDim = vitDim;
        this.clsDim = clsDim;
        this.lmHeads = lmHeads;
        this.lmKvHeads = lmKvHeads;
        this.lmDim = lmDim;
        this.system = system;
        this.text = text;
    }

    public int tiles() {
        return localTiles + 1;
    }

    public int tokensPerTile() {
        return (grid / merge) * (grid / merge);
    }

    public int visual() {
        return tiles() * tokensPerTile();
    }

    /** ViT sequence length: patches + CLS. */
    public int vitTokens() {
        return grid * grid + 1;
    }

    public int keys() {
        return system + visual() + text;
    }

    public String describe() {
        return this == LLAVA ? "LLaVA-1.5 (1 tile, 576 tokens)" : "InternVL2-2B (12+1 tiles x 256 tokens)";
    }
}
