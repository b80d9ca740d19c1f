package dev.vtprune.io;

import static dev.vtprune.io.SafetensorsRoundTripTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every way a file can be wrong is an IllegalArgumentException whose message names the file,
 * the tensor or entry, what was expected and what was found; I/O failures are unchecked I/O
 * exceptions naming the file. Nothing crashes and no open file is leaked.
 */
class SafetensorsErrorsTest {
    @TempDir
    Path dir;

    static String entry(String name, String dtype, String shape, String offsets) {
        return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    }

    static Arguments bad(String what, String header, int dataBytes, String... fragments) {
        return Arguments.of(what, header, dataBytes, fragments);
    }

    static Stream<Arguments> badHeaders() {
        return Stream.of(
                bad("unknown dtype", "{" + entry("w", "\"F8_E4M3\"", "[2]", "[0,2]") + "}", 2,
                        "tensor 'w' dtype must be one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL",
                        "got \"F8_E4M3\""),
                bad("dtype missing", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'w' dtype must be one of", "got nothing"),
                bad("dtype not a string", "{" + entry("w", "4", "[1]", "[0,4]") + "}", 4,
                        "tensor 'w' dtype must be one of", "got 4"),
                bad("negative dimension", "{" + entry("w", "\"F32\"", "[2,-1]", "[0,0]") + "}", 0,
                        "tensor 'w' shape must be an array of non-negative integers", "got [2,-1]"),
                bad("fractional dimension", "{" + entry("w", "\"F32\"", "[2.0]", "[0,8]") + "}", 8,
                        "tensor 'w' shape must be an array of non-negative integers", "got [2.0]"),
                bad("dimension beyond 64 bits", "{" + entry("w", "\"U8\"", "[18446744073709551616]", "[0,0]") + "}", 0,
                        "tensor 'w' shape must be an array of non-negative integers", "got [18446744073709551616]"),
                bad("shape not an array", "{" + entry("w", "\"F32\"", "\"2\"", "[0,8]") + "}", 8,
                        "tensor 'w' shape must be an array", "got \"2\""),
                bad("byte size overflows", "{" + entry("w", "\"F32\"", "[4611686018427387904,4]", "[0,0]") + "}", 0,
                        "tensor 'w' shape must describe at most 9223372036854775807 bytes",
                        "got [4611686018427387904, 4] x 4 bytes, which overflows"),
                bad("offsets shorter than the shape needs", "{" + entry("w", "\"F32\"", "[2,2]", "[0,12]") + "}", 16,
                        "tensor 'w' data_offsets must span 16 bytes (F32 [2, 2]: 4 elements x 4 bytes)",
                        "got [0, 12] (12 bytes)"),
                bad("offsets longer than the shape needs", "{" + entry("w", "\"BF16\"", "[3]", "[2,10]") + "}", 16,
                        "tensor 'w' data_offsets must span 6 bytes (BF16 [3]: 3 elements x 2 bytes)",
                        "got [2, 10] (8 bytes)"),
                bad("offsets reversed", "{" + entry("w", "\"U8\"", "[0]", "[8,0]") + "}", 8,
                        "tensor 'w' data_offsets must be [begin, end] with 0 <= begin <= end", "got [8,0]"),
                bad("negative offset", "{" + entry("w", "\"U8\"", "[8]", "[-4,4]") + "}", 8,
                        "tensor 'w' data_offsets must be [begin, end]", "got [-4,4]"),
                bad("three offsets", "{" + entry("w", "\"U8\"", "[4]", "[0,4,8]") + "}", 8,
                        "tensor 'w' data_offsets must be [begin, end]", "got [0,4,8]"),
                bad("offsets missing", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4]}}", 8,
                        "tensor 'w' data_offsets must be [begin, end]", "got nothing"),
                bad("data beyond the end of the file", "{" + entry("w", "\"F32\"", "[4]", "[0,16]") + "}", 12,
                        "tensor 'w' data_offsets must lie within the data section of 12 bytes",
                        "the file is shorter than the header claims", "got [0, 16]"),
                bad("overlapping tensors", "{" + entry("a", "\"F32\"", "[2]", "[0,8]") + ","
                                + entry("e", "\"F32\"", "[0]", "[4,4]") + ","
                                + entry("b", "\"I32\"", "[2]", "[4,12]") + "}", 12,
                        "tensors 'a' and 'b' must occupy disjoint bytes", "got [0, 8) and [4, 12), which overlap"),
                bad("truncated JSON", "{\"w\":{\"dtype\":\"F32\"", 0, "header must be valid JSON",
                        "got a syntax error"),
                bad("content after the JSON object", "{} x", 0, "header must be valid JSON",
                        "content after the end of the JSON value"),
                bad("lenient JSON (comment)", "{/* c */}", 0, "header must be valid JSON", "got a syntax error"),
                bad("header not an object", "[1,2]", 0, "header must be a JSON object", "got [1,2]"),
                bad("absurd nesting", "[".repeat(100_000) + "]".repeat(100_000), 0, "header must be valid JSON",
                        "nesting deeper than 64"),
                bad("tensor named twice", "{" + entry("w", "\"U8\"", "[1]", "[0,1]") + ","
                        + entry("w", "\"U8\"", "[1]", "[1,2]") + "}", 2, "header must be valid JSON",
                        "key 'w' repeated"),
                bad("entry not an object", "{\"w\":5}", 0,
                        "tensor 'w' must be an object with dtype, shape and data_offsets", "got 5"),
                bad("metadata not an object", "{\"__metadata__\":[\"a\"]}", 0,
                        "__metadata__ must be an object of strings", "got [\"a\"]"),
                bad("metadata value not a string", "{\"__metadata__\":{\"n\":3}}", 0,
                        "__metadata__ entry 'n' must be a string", "got 3"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badHeaders")
    void badHeaderIsRejectedWithFileEntryExpectedAndActual(String what, String header, int dataBytes,
                                                           String[] fragments) {
        Path file = Raw.file(dir.resolve("bad.safetensors"), header, new byte[dataBytes]);
        List<String> all = new ArrayList<>(List.of("safetensors file " + file + ": "));
        all.addAll(List.of(fragments));
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(file), all.toArray(String[]::new));
    }

    @Test
    void headerThatIsNotUtf8() {
        byte[] header = "{\"\u00ff\":1}".getBytes(StandardCharsets.ISO_8859_1);
        Path file = Raw.file(dir.resolve("latin1.safetensors"), header.length, header, new byte[0]);
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(file),
                "safetensors file " + file, "header must be UTF-8 text", "got bytes that are not");
    }

    @Test
    void fileTooShortForTheLengthField() throws IOException {
        Path file = Files.write(dir.resolve("short.safetensors"), new byte[5]);
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(file),
                "safetensors file " + file, "size must be at least 8 bytes", "got 5 bytes");
    }

    @Test
    void headerLongerThanTheFile() {
        byte[] header = "{}".getBytes(StandardCharsets.UTF_8);
        Path file = Raw.file(dir.resolve("cut.safetensors"), 1000, header, new byte[8]);
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(file),
                "safetensors file " + file, "header length must fit in the file, which has 10 bytes after the length",
                "the file is shorter than the header claims", "got 1000 bytes");
    }

    @Test
    void absurdHeaderLengths() {
        byte[] header = "{}".getBytes(StandardCharsets.UTF_8);
        Path huge = Raw.file(dir.resolve("huge.safetensors"), 1L << 40, header, new byte[0]);
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(huge),
                "safetensors file " + huge, "header length must be at most 100000000 bytes", "got 1099511627776 bytes");
        Path negative = Raw.file(dir.resolve("negative.safetensors"), -1L, header, new byte[0]);
        assertMessage(IllegalArgumentException.class, () -> SafetensorsFile.open(negative),
                "safetensors file " + negative, "header length must be at most", "got 18446744073709551615 bytes");
    }

    @Test
    void missingFileIsAnIoError() {
        Path file = dir.resolve("nowhere.safetensors");
        UncheckedIOException e = assertMessage(UncheckedIOException.class, () -> SafetensorsFile.open(file),
                "cannot open safetensors file " + file);
        assertEquals(java.nio.file.NoSuchFileException.class, e.getCause().getClass());
    }

    @Test
    void unknownNameNamesTheFileTheKeyAndTheNamesItHas() {
        String json = "{" + entry("a", "\"U8\"", "[1]", "[0,1]") + "," + entry("b", "\"U8\"", "[1]", "[1,2]") + "}";
        Path file = Raw.file(dir.resolve("ab.safetensors"), json, new byte[2]);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertMessage(IllegalArgumentException.class, () -> f.load("zz"), "safetensors file " + file,
                    "tensor name must be one of the 2 tensors it holds ('a', 'b')", "got 'zz'");
            assertMessage(IllegalArgumentException.class, () -> f.info("zz"), "got 'zz'");
        }
    }

    @Test
    void fileTruncatedAfterOpeningIsAnIoErrorOnLoad() throws IOException {
        String json = "{" + entry("w", "\"F32\"", "[4]", "[0,16]") + "}";
        Path file = Raw.file(dir.resolve("shrink.safetensors"), json, new byte[16]);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(8 + json.length() + 6);
            }
            assertMessage(UncheckedIOException.class, () -> f.load("w"), "cannot read tensor 'w'",
                    "safetensors file " + file, "the file ends at byte", "10 bytes short");
        }
    }
}
