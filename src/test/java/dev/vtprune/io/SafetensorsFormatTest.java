package dev.vtprune.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reader against files assembled byte by byte from the format description, so that a
 * mistake shared by our writer and reader (say F16 and BF16 swapped) cannot hide.
 */
class SafetensorsFormatTest {
    @TempDir
    Path dir;

    /**
     * Every dtype with values whose bits are known, header entries in an order different from the
     * data order, an unaligned scalar, an empty tensor, UTF-8 metadata and an unpadded header.
     */
    static final String HEADER = "{"
            + "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[68,71]},"
            + "\"f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
            + "\"__metadata__\":{\"format\":\"pt\",\"note\":\"h\u00e9llo \u2713\"},"
            + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[30,36]},"
            + "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
            + "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
            + "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[36,52]},"
            + "\"i32\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[52,60]},"
            + "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[60,64]},"
            + "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[64,66]},"
            + "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[66,68]},"
            + "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[71,75]},"
            + "\"empty\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[75,75]}"
            + "}";

    static byte[] data() {
        return Raw.concat(
                Raw.le(8, Double.doubleToRawLongBits(1.5), 0x8000000000000001L),   // f64: 1.5, -min subnormal
                Raw.le(4, Float.floatToRawIntBits(3.25f), 0x80000000L),          // f32: 3.25, -0
                Raw.le(2, 0x3C00, 0xC100, 0x7C00),                                // f16: 1, -2.5, inf
                Raw.le(2, 0x3F80, 0xC020, 0xFF80),                                // bf16: 1, -2.5, -inf
                Raw.le(8, Long.MIN_VALUE, 1L << 40),                              // i64
                Raw.le(4, -7, 123456789),                                         // i32
                Raw.le(2, -300, 32767),                                           // i16
                Raw.le(1, 0x80, 0x7F),                                            // i8: -128, 127
                Raw.le(1, 0xFF, 0),                                               // u8: 255, 0
                Raw.le(1, 1, 0, 1),                                               // bool
                Raw.le(4, Float.floatToRawIntBits(42f)));                         // scalar
    }

    record Expect(String name, ScalarType type, long[] shape, double[] values) {}

    static final List<Expect> EXPECTED = List.of(
            new Expect("f64", ScalarType.Double, new long[] {2}, new double[] {1.5, -Double.MIN_VALUE}),
            new Expect("f32", ScalarType.Float, new long[] {2}, new double[] {3.25, -0.0}),
            new Expect("f16", ScalarType.Half, new long[] {3}, new double[] {1, -2.5, Double.POSITIVE_INFINITY}),
            new Expect("bf16", ScalarType.BFloat16, new long[] {3}, new double[] {1, -2.5, Double.NEGATIVE_INFINITY}),
            new Expect("i64", ScalarType.Long, new long[] {2}, null),
            new Expect("i32", ScalarType.Int, new long[] {1, 2}, new double[] {-7, 123456789}),
            new Expect("i16", ScalarType.Short, new long[] {2}, new double[] {-300, 32767}),
            new Expect("i8", ScalarType.Char, new long[] {2}, new double[] {-128, 127}),
            new Expect("u8", ScalarType.Byte, new long[] {2}, new double[] {255, 0}),
            new Expect("bool", ScalarType.Bool, new long[] {3}, new double[] {1, 0, 1}),
            new Expect("scalar", ScalarType.Float, new long[] {}, new double[] {42}),
            new Expect("empty", ScalarType.Float, new long[] {2, 0}, new double[] {}));

    @Test
    void handAssembledFileReadsAsTheFormatSays() {
        Path file = Raw.file(dir.resolve("hand.safetensors"), HEADER, data());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(8 + HEADER.getBytes(StandardCharsets.UTF_8).length, f.dataOffset());
            List<String> order = List.of("bool", "f64", "bf16", "f32", "f16", "i64", "i32", "i16", "i8", "u8", "scalar",
                    "empty");
            assertEquals(order, List.copyOf(f.names()), "header order, without __metadata__");
            assertEquals(Map.of("format", "pt", "note", "h\u00e9llo \u2713"), f.metadata());
            for (Expect e : EXPECTED) {
                Tensor t = f.load(e.name());
                assertSame(e.type(), Tensors.scalarType(t), e.name() + " dtype");
                assertArrayEquals(e.shape(), t.shape(), e.name() + " shape");
                if (e.values() != null) assertArrayEquals(e.values(), Tensors.toDoubles(t), e.name() + " values");
            }
            assertArrayEquals(new long[] {Long.MIN_VALUE, 1L << 40}, Tensors.toLongs(f.load("i64")), "i64 values");
            assertEquals(new TensorInfo("bf16", SafetensorsDtype.BF16, new long[] {3}, 30, 36), f.info("bf16"));
            assertArrayEquals(new double[] {1, -2.5, Double.NEGATIVE_INFINITY},
                    Tensors.toDoubles(f.load("bf16", ScalarType.Float)), "bf16 converted to float32");
        }
    }

    @Test
    void paddedHeaderGapsAndTrailingBytesAreAccepted() {
        // Spaces after the JSON (as writers pad), a 4-byte gap between tensors, 3 bytes after the last.
        String json = "{\"a\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}     ";
        byte[] data = Raw.concat(Raw.le(2, 5, -6), Raw.le(1, 9, 9, 9, 9, 200, 7, 7, 7));
        try (SafetensorsFile f = SafetensorsFile.open(Raw.file(dir.resolve("pad.safetensors"), json, data))) {
            assertArrayEquals(new long[] {5, -6}, Tensors.toLongs(f.load("a")));
            assertArrayEquals(new long[] {200}, Tensors.toLongs(f.load("b")));
            assertEquals(Map.of(), f.metadata());
        }
    }

    @Test
    void emptyHeaderObjectIsAFileWithoutTensors() {
        try (SafetensorsFile f = SafetensorsFile.open(Raw.file(dir.resolve("none.safetensors"), "{}      ",
                new byte[0]))) {
            assertEquals(Set.of(), f.names());
        }
    }

    /**
     * Offsets beyond 2^31 and 2^32 without writing gigabytes: the data section is a sparse file
     * (setLength allocates no blocks on the file systems listed), only the bytes of the two small
     * tensors are written. The 3 GB tensor is validated and described but not loaded.
     */
    @Test
    void offsetsBeyondFourGigabytesInASparseFile() throws IOException {
        String fs = Files.getFileStore(dir).type();
        assumeTrue(Set.of("ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs", "overlay").contains(fs),
                "sparse files not known to work on file system " + fs);
        long big = 3_000_000_000L;
        long highBegin = 5_000_000_000L;
        String json = "{\"low\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"big\":{\"dtype\":\"U8\",\"shape\":[" + big + "],\"data_offsets\":[8," + (8 + big) + "]},"
                + "\"high\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[" + highBegin + "," + (highBegin + 16)
                + "]}}";
        Path file = Raw.file(dir.resolve("sparse.safetensors"), json, Raw.le(4, Float.floatToRawIntBits(-1f), 0));
        long dataOffset = 8 + json.length();
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataOffset + highBegin + 16);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(Raw.le(8, Double.doubleToRawLongBits(2.5), Double.doubleToRawLongBits(-8))),
                    dataOffset + highBegin);
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(big, f.info("big").byteSize());
            assertEquals(highBegin, f.info("high").begin());
            assertArrayEquals(new double[] {2.5, -8}, Tensors.toDoubles(f.load("high")));
            assertArrayEquals(new double[] {-1, 0}, Tensors.toDoubles(f.load("low")));
        } finally {
            Files.delete(file);
        }
    }
}
