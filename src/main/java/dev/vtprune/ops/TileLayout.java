package dev.vtprune.ops;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Args;
import java.util.Arrays;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * The ragged structure of a batch of tiled images: image b has {@code localTiles(b) >= 0}
 * local tiles followed by its thumbnail (InternVL order), tile t has {@code tokens(t)} visual
 * tokens, numbered in tile order. Kept as int64 offsets, on the host for the CPU kernels and
 * copied once per CUDA device for the CUDA kernels.
 *
 * <p>Immutable and thread-safe. Holds a little native memory: {@link #close()} frees it
 * early, the garbage collector otherwise.
 */
public final class TileLayout implements AutoCloseable {
    private final Closing closing = new Closing("TileLayout");
    /** Local tiles one image may have (InternVL: up to 40; the kernels' bound). */
    public static final int MAX_LOCAL_TILES = 1024;

    private final long[] tileOffsets;   // [images + 1] into the flat tile list
    private final long[] tokenOffsets;  // [tiles + 1] into the flat token list
    private final KernelArrays arrays;

    private TileLayout(long[] tileOffsets, long[] tokenOffsets) {
        this.tileOffsets = tileOffsets;
        this.tokenOffsets = tokenOffsets;
        this.arrays = new KernelArrays(tileOffsets, tokenOffsets);
    }

    /**
     * @param tilesPerImage tiles of each image, thumbnail included (each >= 1)
     * @param tokensPerTile visual tokens of each tile, in tile order (each >= 0)
     */
    public static TileLayout of(long[] tilesPerImage, long[] tokensPerTile) {
        Args.notNull(tilesPerImage, "tilesPerImage");
        Args.notNull(tokensPerTile, "tokensPerTile");
        if (tilesPerImage.length == 0) throw Args.error("tilesPerImage", "hold at least one image", "[]");
        long[] tiles = new long[tilesPerImage.length + 1];
        for (int b = 0; b < tilesPerImage.length; b++) {
            long n = tilesPerImage[b];
            if (n < 1 || n - 1 > MAX_LOCAL_TILES) {
                throw Args.error("tilesPerImage[" + b + "]", "be in [1, " + (MAX_LOCAL_TILES + 1)
                        + "] (local tiles + thumbnail)", n);
            }
            tiles[b + 1] = tiles[b] + n;
        }
        if (tiles[tilesPerImage.length] != tokensPerTile.length) {
            throw Args.error("tokensPerTile", "have one entry per tile (" + tiles[tilesPerImage.length] + ")",
                    tokensPerTile.length + " entries");
        }
        long[] tokens = new long[tokensPerTile.length + 1];
        for (int t = 0; t < tokensPerTile.length; t++) {
            if (tokensPerTile[t] < 0) throw Args.error("tokensPerTile[" + t + "]", "be >= 0", tokensPerTile[t]);
            tokens[t + 1] = tokens[t] + tokensPerTile[t];
        }
        return new TileLayout(tiles, tokens);
    }

    /** Images with the given local-tile counts, every tile (thumbnails too) of `tokensPerTile`. */
    public static TileLayout of(int[] localTilesPerImage, long tokensPerTile) {
        Args.notNull(localTilesPerImage, "localTilesPerImage");
        long[] tiles = new long[localTilesPerImage.length];
        int total = 0;
        for (int b = 0; b < tiles.length; b++) {
            tiles[b] = localTilesPerImage[b] + 1L;
            total += localTilesPerImage[b] + 1;
        }
        long[] tokens = new long[Math.max(total, 0)];
        Arrays.fill(tokens, tokensPerTile);
        return of(tiles, tokens);
    }

    /** `images` images of `localTiles` local tiles + thumbnail, `tokensPerTile` tokens each. */
    public static TileLayout uniform(int images, int localTiles, long tokensPerTile) {
        int[] local = new int[images];
        Arrays.fill(local, localTiles);
        return of(local, tokensPerTile);
    }

    public int numImages() {
        closing.check();
        return tileOffsets.length - 1;
    }

    public int numTiles() {
        closing.check();
        return tokenOffsets.length - 1;
    }

    public long numTokens() {
        closing.check();
        return tokenOffsets[tokenOffsets.length - 1];
    }

    public int firstTile(int image) {
        closing.check();
        return (int) tileOffsets[image];
    }

    public int thumbnail(int image) {
        closing.check();
        return (int) tileOffsets[image + 1] - 1;
    }

    public int localTiles(int image) {
        closing.check();
        return thumbnail(image) - firstTile(image);
    }

    public long tokens(int tile) {
        closing.check();
        return tokenOffsets[tile + 1] - tokenOffsets[tile];
    }

    public long tokenOffset(int tile) {
        closing.check();
        return tokenOffsets[tile];
    }

    /** The image that owns `tile`. */
    public int imageOf(int tile) {
        closing.check();
        int b = Arrays.binarySearch(tileOffsets, tile);
        if (b >= 0) {
            while (b + 1 < tileOffsets.length && tileOffsets[b + 1] == tile) b++;
            return b;
        }
        return -b - 2;
    }

    public long[] tileOffsets() {
        closing.check();
        return tileOffsets.clone();
    }

    public long[] tokenOffsets() {
        closing.check();
        return tokenOffsets.clone();
    }

    /** [tileOffsets, tokenOffsets] as int64 tensors on `device` (cached per device). */
    Tensor[] offsetsOn(Device device) {
        closing.check();
        return arrays.on(device);
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        arrays.close();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TileLayout l && Arrays.equals(tileOffsets, l.tileOffsets)
                && Arrays.equals(tokenOffsets, l.tokenOffsets);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tileOffsets) + Arrays.hashCode(tokenOffsets);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("TileLayout[");
        for (int b = 0; b < numImages(); b++) {
            if (b > 0) s.append(", ");
            s.append(localTiles(b)).append("+1 tiles");
        }
        return s.append("; ").append(numTokens()).append(" tokens]").toString();
    }
}
