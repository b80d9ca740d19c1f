package dev.vtprune.io;

import static dev.vtprune.io.IoErrors.invalid;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated JSON header of a safetensors file: tensor entries in header order and
 * the optional string-to-string {@code __metadata__}. Everything a later read relies on is
 * checked here, once, so that loading can trust the byte ranges: known dtype, non-negative
 * shape whose byte size fits in a long, data_offsets spanning exactly shape x element size,
 * inside the data section, and no two tensors sharing a byte. Gaps between tensors and bytes
 * after the last one are allowed (the reader never needs them).
 */
final class SafetensorsHeader {
    /** The header-size limit of the reference implementation: larger values are corrupt files. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    final Map<String, TensorInfo> tensors;
    final Map<String, String> metadata;

    private SafetensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Parses header bytes (UTF-8 JSON, possibly padded with trailing spaces) of a file whose data
     * section holds `dataLength` bytes; `where` names the file in error messages.
     */
    static SafetensorsHeader parse(byte[] headerBytes, long dataLength, String where) {
        JsonElement root = Json.parseUtf8(headerBytes, where, "header");
        if (!root.isJsonObject()) throw invalid(where, "header", "be a JSON object", Json.show(root));

        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : root.getAsJsonObject().entrySet()) {
            if (e.getKey().equals(METADATA_KEY)) {
                metadata = metadata(e.getValue(), where);
            } else {
                tensors.put(e.getKey(), tensor(e.getKey(), e.getValue(), dataLength, where));
            }
        }
        checkNoOverlap(tensors.values(), where);
        return new SafetensorsHeader(tensors, metadata);
    }

    private static Map<String, String> metadata(JsonElement value, String where) {
        if (!value.isJsonObject()) throw invalid(where, METADATA_KEY, "be an object of strings", Json.show(value));
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : value.getAsJsonObject().entrySet()) {
            String s = Json.string(e.getValue());
            if (s == null) {
                String subject = METADATA_KEY + " entry '" + e.getKey() + "'";
                throw invalid(where, subject, "be a string", Json.show(e.getValue()));
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    private static TensorInfo tensor(String name, JsonElement value, long dataLength, String where) {
        String subject = "tensor '" + name + "'";
        if (!value.isJsonObject()) {
            throw invalid(where, subject, "be an object with dtype, shape and data_offsets", Json.show(value));
        }
        JsonObject o = value.getAsJsonObject();

        String dtypeName = Json.string(o.get("dtype"));
        SafetensorsDtype dtype = dtypeName == null ? null : SafetensorsDtype.fromHeaderName(dtypeName);
        if (dtype == null) {
            throw invalid(where, subject + " dtype", "be one of " + SafetensorsDtype.supportedNames(),
                    Json.show(o.get("dtype")));
        }

        long[] shape = nonNegativeIntegers(o.get("shape"), -1);
        if (shape == null) {
            throw invalid(where, subject + " shape", "be an array of non-negative integers", Json.show(o.get("shape")));
        }
        long byteSize;
        try {
            long numel = 1;
            for (long d : shape) numel = Math.multiplyExact(numel, d);
            byteSize = Math.multiplyExact(numel, dtype.elementSize());
        } catch (ArithmeticException overflow) {
            throw invalid(where, subject + " shape", "describe at most " + Long.MAX_VALUE + " bytes",
                    Arrays.toString(shape) + " x " + dtype.elementSize() + " bytes, which overflows a 64-bit size");
        }

        long[] range = nonNegativeIntegers(o.get("data_offsets"), 2);
        if (range == null || range[0] > range[1]) {
            throw invalid(where, subject + " data_offsets", "be [begin, end] with 0 <= begin <= end",
                    Json.show(o.get("data_offsets")));
        }
        long begin = range[0], end = range[1];
        if (end - begin != byteSize) {
            throw invalid(where, subject + " data_offsets",
                    "span " + byteSize + " bytes (" + dtype.name() + " " + Arrays.toString(shape) + ": "
                            + byteSize / dtype.elementSize() + " elements x "
                            + dtype.elementSize() + " bytes)",
                    "[" + begin + ", " + end + "] (" + (end - begin) + " bytes)");
        }
        if (end > dataLength) {
            throw invalid(where, subject + " data_offsets", "lie within the data section of " + dataLength
                    + " bytes (the file is shorter than the header claims)", "[" + begin + ", " + end + "]");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** The elements of a JSON array of non-negative integers (of `length` entries unless -1), else null. */
    private static long[] nonNegativeIntegers(JsonElement e, int length) {
        if (e == null || !e.isJsonArray()) return null;
        JsonArray a = e.getAsJsonArray();
        if (length >= 0 && a.size() != length) return null;
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            Long v = Json.integer(a.get(i));
            if (v == null || v < 0) return null;
            out[i] = v;
        }
        return out;
    }

    /** No byte belongs to two tensors (empty tensors own no bytes and may sit anywhere). */
    private static void checkNoOverlap(Iterable<TensorInfo> tensors, String where) {
        List<TensorInfo> byBegin = new ArrayList<>();
        for (TensorInfo t : tensors) {
            if (t.byteSize() > 0) byBegin.add(t);
        }
        byBegin.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < byBegin.size(); i++) {
            TensorInfo a = byBegin.get(i - 1), b = byBegin.get(i);
            if (a.end() > b.begin()) {
                throw invalid(where, "tensors '" + a.name() + "' and '" + b.name() + "'", "occupy disjoint bytes",
                        "[" + a.begin() + ", " + a.end() + ") and [" + b.begin() + ", " + b.end() + "), which overlap");
            }
        }
    }
}
