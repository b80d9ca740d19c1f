package dev.vtprune.io;

import static dev.vtprune.io.SafetensorsRoundTripTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face checkpoints: a sharded one with an index, a single file, and every broken variant. */
class SafetensorsCheckpointTest {
    static final String SHARD1 = "model-00001-of-00002.safetensors";
    static final String SHARD2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    /** Two shards: a and b in the first, c in the second; the index lists c first. */
    @BeforeEach
    void twoShards() {
        Map<String, Tensor> first = new LinkedHashMap<>();
        first.put("a", Tensor.create(new float[] {1, 2, 3}, 3));
        first.put("b", Tensor.create(new long[] {7}));
        Safetensors.write(dir.resolve(SHARD1), first);
        Safetensors.write(dir.resolve(SHARD2), Map.of("c", Tensor.create(new double[] {-1.5, 0, 4}, 1, 3)));
    }

    private Path index(String json) throws IOException {
        return Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX_FILE), json);
    }

    private Path goodIndex() throws IOException {
        return index("{\"metadata\":{\"total_size\":44},\"weight_map\":{\"c\":\"" + SHARD2 + "\",\"a\":\"" + SHARD1
                + "\",\"b\":\"" + SHARD1 + "\"}}");
    }

    @Test
    void shardedCheckpointOpensShardsLazilyAndLoadsFromEach() throws IOException {
        goodIndex();
        Tensor c;
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertEquals(List.of("c", "a", "b"), List.copyOf(ckpt.names()), "index order");
            assertEquals("checkpoint " + dir + " (2 shards)", ckpt.describe());
            assertEquals(List.of(dir.resolve(SHARD2), dir.resolve(SHARD1)), ckpt.shards());
            assertEquals(0, ckpt.openedShardCount(), "no shard opened before a load");

            c = ckpt.load("c");
            assertEquals(1, ckpt.openedShardCount());
            assertArrayEquals(new long[] {1, 3}, c.shape());
            assertArrayEquals(new double[] {-1.5, 0, 4}, Tensors.toDoubles(c));

            assertArrayEquals(new float[] {1, 2, 3}, Tensors.toFloats(ckpt.load("a")));
            assertArrayEquals(new long[] {7}, Tensors.toLongs(ckpt.load("b")));
            assertEquals(2, ckpt.openedShardCount(), "each shard opened once");

            assertEquals(SafetensorsDtype.I64, ckpt.info("b").dtype());
            Tensor half = ckpt.load("a", ScalarType.Half);
            assertSame(ScalarType.Half, Tensors.scalarType(half));
            assertArrayEquals(new double[] {1, 2, 3}, Tensors.toDoubles(half));
        }
        assertArrayEquals(new double[] {-1.5, 0, 4}, Tensors.toDoubles(c), "loaded tensors outlive the checkpoint");
    }

    @Test
    void closeClosesShardsAndLaterLoadsFail() throws IOException {
        goodIndex();
        SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir);
        ckpt.load("a");
        ckpt.close();
        assertEquals(0, ckpt.openedShardCount());
        ckpt.close();  // idempotent
        assertMessage(IllegalStateException.class, () -> ckpt.load("c"), "checkpoint " + dir, "is closed", "'c'");
    }

    @Test
    void indexFilePathOpensTheSameCheckpoint() throws IOException {
        Path index = goodIndex();
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(index)) {
            assertEquals(List.of("c", "a", "b"), List.copyOf(ckpt.names()));
            assertEquals("checkpoint " + dir + " (2 shards)", ckpt.describe());
            assertArrayEquals(new long[] {7}, Tensors.toLongs(ckpt.load("b")));
        }
    }

    @Test
    void singleFileCheckpointByDirectoryOrByFile() throws IOException {
        Files.move(dir.resolve(SHARD1), dir.resolve(SafetensorsCheckpoint.SINGLE_FILE));
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertEquals(List.of("a", "b"), List.copyOf(ckpt.names()));
            assertEquals("checkpoint " + dir + " (model.safetensors)", ckpt.describe());
            assertArrayEquals(new float[] {1, 2, 3}, Tensors.toFloats(ckpt.load("a")));
        }
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir.resolve(SHARD2))) {
            assertEquals(List.of("c"), List.copyOf(ckpt.names()));
            assertEquals("checkpoint " + dir.resolve(SHARD2), ckpt.describe());
            assertEquals(1, ckpt.shards().size());
            assertArrayEquals(new double[] {-1.5, 0, 4}, Tensors.toDoubles(ckpt.load("c")));
        }
    }

    @Test
    void unknownNameNamesTheCheckpoint() throws IOException {
        goodIndex();
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertMessage(IllegalArgumentException.class, () -> ckpt.load("d"), "checkpoint " + dir + " (2 shards)",
                    "tensor name must be one of the 3 tensors it holds ('c', 'a', 'b')", "got 'd'");
        }
    }

    @Test
    void missingShardFileIsReportedWhenOpening() throws IOException {
        Path index = goodIndex();
        Files.delete(dir.resolve(SHARD2));
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir),
                "checkpoint index " + index, "shard " + SHARD2 + " (holding 1 tensor: 'c')", "must be a file in " + dir,
                "got no such file");
    }

    @Test
    void nameMappedToAShardThatLacksItIsReportedWhenLoaded() throws IOException {
        index("{\"weight_map\":{\"a\":\"" + SHARD1 + "\",\"c\":\"" + SHARD1 + "\"}}");
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertArrayEquals(new float[] {1, 2, 3}, Tensors.toFloats(ckpt.load("a")));
            assertMessage(IllegalArgumentException.class, () -> ckpt.load("c"), "checkpoint " + dir,
                    "shard " + SHARD1 + " must hold tensor 'c' (the index maps it there)",
                    "got a file of 2 tensors without it");
        }
    }

    @Test
    void corruptShardIsReportedOnFirstUseNamingTheShard() throws IOException {
        goodIndex();
        Path shard = dir.resolve(SHARD2);
        Files.write(shard, new byte[] {1, 2, 3});
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertArrayEquals(new long[] {7}, Tensors.toLongs(ckpt.load("b")), "the healthy shard still loads");
            assertMessage(IllegalArgumentException.class, () -> ckpt.load("c"), "safetensors file " + shard,
                    "size must be at least 8 bytes", "got 3 bytes");
        }
    }

    @Test
    void malformedIndexes() throws IOException {
        String where = "checkpoint index " + dir.resolve(SafetensorsCheckpoint.INDEX_FILE);
        index("{\"weight_map\":{\"a\":");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "content must be valid JSON", "got a syntax error");

        index("{\"metadata\":{}}");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "content must be a JSON object with a \"weight_map\" object", "got {\"metadata\":{}}");

        index("{\"weight_map\":[\"" + SHARD1 + "\"]}");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "content must be a JSON object with a \"weight_map\" object");

        index("{\"weight_map\":{\"a\":3}}");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "weight_map entry 'a' must be the name of a shard file", "got 3");

        index("{\"weight_map\":{\"a\":\"" + SHARD1 + "\",\"a\":\"" + SHARD2 + "\"}}");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "content must be valid JSON", "key 'a' repeated");

        index("{\"weight_map\":{\"a\":\"../" + SHARD1 + "\"}}");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir), where,
                "weight_map entry 'a' must name a file inside " + dir, "got \"../" + SHARD1 + "\"");
    }

    @Test
    void directoryWithoutACheckpoint() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(empty),
                "checkpoint directory " + empty,
                "contents must include model.safetensors.index.json or model.safetensors", "got no safetensors files");
        assertMessage(IllegalArgumentException.class, () -> SafetensorsCheckpoint.open(dir),
                "checkpoint directory " + dir, "got only [" + SHARD1 + ", " + SHARD2 + "]");
    }

    @Test
    void missingPathIsAnIoError() {
        Path nowhere = dir.resolve("nowhere");
        assertMessage(UncheckedIOException.class, () -> SafetensorsCheckpoint.open(nowhere),
                "cannot open checkpoint " + nowhere);
    }
}
