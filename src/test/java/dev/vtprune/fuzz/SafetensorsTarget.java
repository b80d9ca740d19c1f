package dev.vtprune.fuzz;

import dev.vtprune.io.SafetensorsFile;
import dev.vtprune.io.TensorInfo;
import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;

/**
 * {@link SafetensorsFile#open} (length field, JSON header, every check of SafetensorsHeader) on
 * a file rewritten for each input, then, when it opens, a load of every tensor of up to 1 MB.
 * Invariants of an opened file, as SafetensorsFile documents them: every tensor has a dtype, a
 * non-negative shape whose element count times the element size is exactly its byte range,
 * the range lies inside the data section, no two non-empty tensors share a byte, and a load
 * gives a tensor of that dtype and element count holding exactly the file's bytes of that range.
 */
public final class SafetensorsTarget extends FileTarget {
    private static final long LOAD_LIMIT = 1 << 20;

    public SafetensorsTarget(Path scratch) {
        super("safetensors", scratch.resolve("fuzz.safetensors"));
    }

    @Override
    void parse(Path file, byte[] input) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            check(f, input);
        }
    }

    private static void check(SafetensorsFile f, byte[] input) {
        long headerLength = ByteBuffer.wrap(input, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        expect(f.dataOffset() == 8 + headerLength, "data offset " + f.dataOffset() + " != 8 + " + headerLength);
        long dataLength = input.length - f.dataOffset();
        List<TensorInfo> infos = new ArrayList<>();
        for (String name : f.names()) {
            TensorInfo t = f.info(name);
            infos.add(t);
            expect(t.name().equals(name), "info name " + t.name() + " for " + name);
            expect(t.dtype() != null, name + ": no dtype");
            long numel = 1;
            for (long d : t.shape()) {
                expect(d >= 0, name + ": negative dimension " + Arrays.toString(t.shape()));
                numel = Math.multiplyExact(numel, d);
            }
            expect(numel == t.numel(), name + ": numel");
            expect(Math.multiplyExact(numel, t.dtype().elementSize()) == t.byteSize(), name + ": byte size " + t);
            expect(0 <= t.begin() && t.begin() <= t.end() && t.end() <= dataLength, name + ": range " + t
                    + " outside the data section of " + dataLength + " bytes");
        }
        infos.sort(Comparator.comparingLong(TensorInfo::begin));
        TensorInfo last = null;
        for (TensorInfo t : infos) {
            if (t.byteSize() == 0) continue;
            expect(last == null || last.end() <= t.begin(), "overlap: " + last + " and " + t);
            last = t;
        }
        for (TensorInfo t : infos) {
            if (t.byteSize() > LOAD_LIMIT) continue;
            try (Tensor loaded = f.load(t.name())) {
                expect(loaded.numel() == t.numel(), t.name() + ": loaded " + loaded.numel() + " elements");
                // scalar_type() is a fresh enum object carrying only the value (JavaCPP), so never ==.
                expect(Tensors.scalarType(loaded) == t.dtype().scalarType(), t.name() + ": loaded as "
                        + Tensors.scalarType(loaded));
                if (t.byteSize() == 0) continue;
                byte[] got = new byte[(int) t.byteSize()];
                BytePointer p = new BytePointer(loaded.data_ptr());
                p.capacity(got.length).get(got);
                int from = (int) (f.dataOffset() + t.begin());
                expect(Arrays.equals(got, Arrays.copyOfRange(input, from, from + got.length)),
                        t.name() + ": loaded bytes differ from the file's");
            }
        }
    }

    @Override
    public byte[] mutate(byte[] base, byte[] other, Random rnd) {
        int choice = rnd.nextInt(10);
        if (choice < 5 && base.length >= 8) {  // the header as JSON, the length field rewritten to match (mostly)
            long len = ByteBuffer.wrap(base, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (len >= 0 && len <= base.length - 8) {
                byte[] header = Arrays.copyOfRange(base, 8, 8 + (int) len);
                byte[] mutated = JsonMutations.mutate(header, rnd, 3);
                if (mutated != null) {
                    byte[] data = Arrays.copyOfRange(base, 8 + (int) len, base.length);
                    return assemble(rnd.nextInt(8) == 0 ? len : mutated.length, mutated, data);
                }
            }
        }
        if (choice == 5 && base.length >= 8) {  // the length field alone
            byte[] b = base.clone();
            long v = Mutations.INTERESTING[rnd.nextInt(Mutations.INTERESTING.length)];
            if (rnd.nextBoolean()) v = ByteBuffer.wrap(base, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong() + rnd.nextInt(17) - 8;
            Mutations.putInteger(b, 0, 8, v, false);
            return b;
        }
        if (choice == 6) {  // the data section shortened or lengthened
            int delta = rnd.nextInt(65) - 32;
            return Arrays.copyOf(base, Math.max(0, base.length + delta));
        }
        return Mutations.mutate(base, other, rnd, 4);
    }

    /** A safetensors file: the 8-byte little-endian header length (as given), the header, the data. */
    static byte[] assemble(long lengthField, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(lengthField).put(header).put(data);
        return b.array();
    }

    static byte[] assemble(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return assemble(h.length, h, data);
    }

    /** The header is read into memory and parsed (a tree of a few times its size); data is native. */
    @Override
    public long allocationLimit(int length) {
        return (16L << 20) + 64L * length;
    }

    /** Writes the seed corpus: small valid files covering every dtype, scalars, empty tensors, gaps, metadata, padding. */
    static void writeSeeds(Path dir) {
        try {
            Files.createDirectories(dir);
            byte[] data = new byte[96];
            for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 37 + 11);
            Files.write(dir.resolve("two-f32.safetensors"), assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                    + "\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
                    Arrays.copyOf(data, 36)));
            Files.write(dir.resolve("dtypes-metadata.safetensors"), assemble("{\"__metadata__\":{\"format\":\"pt\","
                    + "\"note\":\"seed\"},\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                    + "\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[16,24]},"
                    + "\"bf\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[24,28]},"
                    + "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[28,36]},"
                    + "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[36,44]},"
                    + "\"s\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[44,48]},"
                    + "\"c\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[48,51]},"
                    + "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[51,54]},"
                    + "\"z\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[54,56]}}", Arrays.copyOf(data, 56)));
            // a scalar, an empty tensor sitting inside another's range, a gap and trailing bytes, a padded header
            Files.write(dir.resolve("scalar-empty-gap.safetensors"), assemble("{\"scalar\":{\"dtype\":\"I64\","
                    + "\"shape\":[],\"data_offsets\":[8,16]},\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],"
                    + "\"data_offsets\":[12,12]},\"tail\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[20,24]}}"
                    + "        ", Arrays.copyOf(data, 32)));
            Files.write(dir.resolve("empty-header.safetensors"), assemble("{}", new byte[0]));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
