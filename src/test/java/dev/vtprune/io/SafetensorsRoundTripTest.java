package dev.vtprune.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Gpu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Our writer, then our reader: every dtype and shape kind comes back bit for bit. */
class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    /**
     * Bit patterns that a careless path would alter: NaNs with payloads (quiet, signalling,
     * negative), infinities, -0, the smallest subnormal; integer extremes.
     */
    static long[] specials(SafetensorsDtype d) {
        switch (d) {
            case F64: return new long[] {0x7FF8000000000001L, 0x7FF0000000000001L, 0xFFF8DEADBEEF0000L,
                0x7FF0000000000000L, 0xFFF0000000000000L, 0x8000000000000000L, 1L};
            case F32: return new long[] {0x7FC00001, 0x7F800001, 0xFFC12345, 0x7F800000, 0xFF800000, 0x80000000, 1};
            case F16: return new long[] {0x7E01, 0x7C01, 0xFE00, 0x7C00, 0xFC00, 0x8000, 1};
            case BF16: return new long[] {0x7FC1, 0x7F81, 0xFFC0, 0x7F80, 0xFF80, 0x8000, 1};
            case I64: return new long[] {Long.MIN_VALUE, Long.MAX_VALUE, -1, 0};
            case I32: return new long[] {Integer.MIN_VALUE, Integer.MAX_VALUE, -1, 0};
            case I16: return new long[] {Short.MIN_VALUE, Short.MAX_VALUE, -1, 0};
            case I8: return new long[] {Byte.MIN_VALUE, Byte.MAX_VALUE, -1, 0};
            case U8: return new long[] {0, 255};
            case BOOL: return new long[] {1, 0};
            default: throw new AssertionError(d);
        }
    }

    /** Seeded random bytes for `n` elements of `d`, the special patterns first (bools are 0 or 1). */
    static byte[] data(SafetensorsDtype d, long seed, int n) {
        byte[] out = new byte[n * d.elementSize()];
        new Random(seed).nextBytes(out);
        if (d == SafetensorsDtype.BOOL) {
            for (int i = 0; i < out.length; i++) out[i] &= 1;
        }
        byte[] s = Raw.le(d.elementSize(), specials(d));
        System.arraycopy(s, 0, out, 0, Math.min(s.length, out.length));
        return out;
    }

    @ParameterizedTest(name = "{0}, seed 7")
    @EnumSource(SafetensorsDtype.class)
    void everyDtypeAndShapeKindRoundTripsBitForBit(SafetensorsDtype d) {
        Map<String, byte[]> bytes = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("full", new long[] {3, 5, 7});
        shapes.put("scalar", new long[] {});
        shapes.put("empty", new long[] {0});
        shapes.put("empty3d", new long[] {4, 0, 3});
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            int n = (int) Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
            bytes.put(e.getKey(), data(d, 7 + n, n));
            tensors.put(e.getKey(), Raw.tensor(d, bytes.get(e.getKey()), e.getValue()));
        }
        Path file = dir.resolve(d + ".safetensors");
        Safetensors.write(file, tensors);

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.copyOf(shapes.keySet()), List.copyOf(f.names()), "names in map order");
            long offset = 0;
            for (String name : shapes.keySet()) {
                TensorInfo info = f.info(name);
                long size = bytes.get(name).length;
                assertEquals(new TensorInfo(name, d, shapes.get(name), offset, offset + size), info,
                        "layout of " + name);
                offset += size;

                Tensor t = f.load(name);
                assertSame(d.scalarType(), Tensors.scalarType(t), name + " dtype");
                assertArrayEquals(shapes.get(name), t.shape(), name + " shape");
                assertTrue(t.is_cpu() && t.is_contiguous(), name + " is contiguous on the CPU");
                assertArrayEquals(bytes.get(name), Raw.bytes(t), name + " bytes");
            }
        }
    }

    @Test
    void headerIsPaddedWithSpacesToEightBytesAndDescribesTheLayout() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("zeta", Tensor.create(new float[] {1, 2, 3}, 3));
        tensors.put("alpha", Tensor.create(new long[] {4, 5}, 2, 1));
        Path file = dir.resolve("layout.safetensors");
        Safetensors.write(file, tensors, Map.of("format", "pt", "note", "ünïcode <&>"));

        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, (8 + n) % 8, "data section starts at a multiple of 8, header length " + n);
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        String json = header.stripTrailing();
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '),
                "padding is spaces: '" + header + "'");
        assertTrue(header.length() - json.length() < 8, "at most 7 bytes of padding");
        assertTrue(json.startsWith("{\"__metadata__\""), "metadata first: " + json);

        // Parsed independently of our reader: the header says what the format says it should.
        JsonObject o = JsonParser.parseString(json).getAsJsonObject();
        assertEquals(List.of("__metadata__", "zeta", "alpha"), List.copyOf(o.keySet()));
        assertEquals("ünïcode <&>", o.getAsJsonObject("__metadata__").get("note").getAsString());
        assertEquals("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}", o.get("zeta").toString());
        assertEquals("{\"dtype\":\"I64\",\"shape\":[2,1],\"data_offsets\":[12,28]}", o.get("alpha").toString());
        assertEquals(8 + n + 28, all.length, "file ends with the last tensor");
        ByteBuffer data = ByteBuffer.wrap(all, (int) (8 + n), 28).slice().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(2.0f, data.getFloat(4));
        assertEquals(5L, data.getLong(20));
    }

    @Test
    void metadataRoundTripsAndAbsentMetadataReadsAsEmpty() {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("empty", "");
        meta.put("quote\"and\\slash", "line\nbreak");
        Path with = dir.resolve("meta.safetensors");
        Path without = dir.resolve("plain.safetensors");
        Safetensors.write(with, Map.of("x", Tensor.create(new int[] {1})), meta);
        Safetensors.write(without, Map.of("x", Tensor.create(new int[] {1})), null);
        try (SafetensorsFile a = SafetensorsFile.open(with); SafetensorsFile b = SafetensorsFile.open(without)) {
            assertEquals(meta, a.metadata());
            assertEquals(List.copyOf(meta.keySet()), List.copyOf(a.metadata().keySet()), "metadata order");
            assertEquals(Map.of(), b.metadata());
            assertEquals(List.of("x"), List.copyOf(a.names()), "__metadata__ is not a tensor");
        }
    }

    @Test
    void nonContiguousInputIsWrittenInLogicalOrder() {
        Tensor base = Tensor.create(new float[] {0, 1, 2, 3, 4, 5}, 2, 3);
        Tensor transposed = base.t();
        assertFalse(transposed.is_contiguous());
        Path file = dir.resolve("t.safetensors");
        Safetensors.write(file, Map.of("t", transposed));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor t = f.load("t");
            assertArrayEquals(new long[] {3, 2}, t.shape());
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, Tensors.toFloats(t));
        }
    }

    @Test
    void cudaTensorsAreCopiedToTheCpuForWriting() {
        Device cuda = Gpu.require();
        Tensor gpu = Tensor.create(new float[] {1.5f, -2f, 7f}).to(cuda, ScalarType.BFloat16);
        Path file = dir.resolve("gpu.safetensors");
        Safetensors.write(file, Map.of("g", gpu));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(SafetensorsDtype.BF16, f.info("g").dtype());
            assertArrayEquals(new double[] {1.5, -2, 7}, Tensors.toDoubles(f.load("g")));
        }
    }

    @Test
    void readsAndWritesInChunksSmallerThanATensor() {
        // Exercises the chunk loop that lets one tensor exceed the 2 GB of a NIO buffer; 7 and 5
        // bytes do not divide the tensor size, so the last chunk is partial.
        byte[] bytes = data(SafetensorsDtype.F32, 11, 1001);
        Path file = dir.resolve("chunks.safetensors");
        Safetensors.write(file, Map.of("w", Raw.tensor(SafetensorsDtype.F32, bytes, 7, 143)), Map.of(), 5);
        try (SafetensorsFile f = SafetensorsFile.open(file, 7)) {
            assertArrayEquals(bytes, Raw.bytes(f.load("w")));
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(bytes, Raw.bytes(f.load("w")), "written in 5-byte chunks, read whole");
        }
    }

    @Test
    void loadConvertsToATargetDtype() {
        Path file = dir.resolve("convert.safetensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("f", Tensor.create(new float[] {1.5f, -3.75f, Float.POSITIVE_INFINITY}));
        tensors.put("i", Tensor.create(new long[] {-2, 40000}));
        Safetensors.write(file, tensors);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor bf = f.load("f", ScalarType.BFloat16);
            assertSame(ScalarType.BFloat16, Tensors.scalarType(bf));
            assertArrayEquals(Raw.le(2, 0x3FC0, 0xC070, 0x7F80), Raw.bytes(bf), "bf16 bits of 1.5, -3.75, inf");
            Tensor d = f.load("i", ScalarType.Double);
            assertSame(ScalarType.Double, Tensors.scalarType(d));
            assertArrayEquals(new double[] {-2, 40000}, Tensors.toDoubles(d));
            Tensor same = f.load("i", ScalarType.Long);
            assertArrayEquals(new long[] {-2, 40000}, Tensors.toLongs(same));
        }
    }

    @Test
    void loadedTensorsOwnTheirMemoryAfterTheFileIsClosedAndDeleted() throws IOException {
        Path file = dir.resolve("own.safetensors");
        Safetensors.write(file, Map.of("w", Tensor.create(new double[] {3.5, -1}, 2)));
        SafetensorsFile f = SafetensorsFile.open(file);
        Tensor kept = f.load("w");
        Tensor converted = f.load("w", ScalarType.Float);
        f.close();
        f.close();  // idempotent
        Files.delete(file);
        System.gc();
        assertArrayEquals(new double[] {3.5, -1}, Tensors.toDoubles(kept));
        assertArrayEquals(new float[] {3.5f, -1f}, Tensors.toFloats(converted));
        assertEquals(List.of("w"), List.copyOf(f.names()), "the header stays readable after close");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> f.load("w"));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void writeReplacesAnExistingFileAndLeavesNoTemporaries() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Safetensors.write(file, Map.of("old", Tensor.create(new int[] {1})));
        Safetensors.write(file, Map.of("new", Tensor.create(new int[] {2})));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("new"), List.copyOf(f.names()));
        }
        assertEquals(List.of("w.safetensors"), listDir());
    }

    @Test
    void rejectedWritesLeaveTheTargetAndDirectoryUntouched() throws IOException {
        Path file = dir.resolve("keep.safetensors");
        Safetensors.write(file, Map.of("v", Tensor.create(new int[] {9})));
        byte[] before = Files.readAllBytes(file);

        Map<String, Tensor> complex = new LinkedHashMap<>();
        complex.put("ok", Tensor.create(new float[] {1}));
        complex.put("z", torch.empty(new long[] {2}, new TensorOptions(ScalarType.ComplexFloat),
                new MemoryFormatOptional()));
        assertMessage(IllegalArgumentException.class, () -> Safetensors.write(file, complex),
                file.toString(), "tensor 'z'", "must have a dtype safetensors stores (F64, F32, F16, BF16",
                "got complex");

        assertMessage(IllegalArgumentException.class,
                () -> Safetensors.write(file, Map.of("__metadata__", Tensor.create(new int[] {1}))),
                file.toString(), "tensor name must be a string other than __metadata__", "got '__metadata__'");

        assertMessage(IllegalArgumentException.class, () -> Safetensors.write(file, Map.of("u", new Tensor())),
                file.toString(), "tensor 'u' must be a defined tensor", "got an undefined tensor");

        Map<String, String> nullValue = new HashMap<>();
        nullValue.put("k", null);
        assertMessage(IllegalArgumentException.class,
                () -> Safetensors.write(file, Map.of("v", Tensor.create(new int[] {1})), nullValue),
                file.toString(), "metadata must map strings to strings", "got a null key or value: k=null");

        Path noDir = dir.resolve("missing-dir").resolve("x.safetensors");
        assertMessage(java.io.UncheckedIOException.class,
                () -> Safetensors.write(noDir, Map.of("v", Tensor.create(new int[] {1}))),
                "cannot write safetensors file " + noDir);

        assertArrayEquals(before, Files.readAllBytes(file), "target unchanged");
        assertEquals(List.of("keep.safetensors"), listDir(), "no temporaries left");
    }

    private List<String> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    /** Asserts `run` throws `type` with a message containing every fragment; returns the exception. */
    static <E extends Throwable> E assertMessage(Class<E> type, org.junit.jupiter.api.function.Executable run,
                                                 String... fragments) {
        E e = assertThrows(type, run);
        for (String f : fragments) {
            assertTrue(e.getMessage() != null && e.getMessage().contains(f),
                    "message should contain '" + f + "': " + e.getMessage());
        }
        return e;
    }
}
