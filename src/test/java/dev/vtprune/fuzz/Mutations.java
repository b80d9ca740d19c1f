package dev.vtprune.fuzz;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Format-blind mutations of a byte array, libFuzzer's repertoire without the coverage feedback:
 * bit flips, random and "interesting" bytes, integers of 1 to 8 bytes in either byte order at a
 * random offset, insertion, erasure, duplication of a range, splicing with another input, and,
 * for text, replacing a run of digits with an interesting number literal. Every mutation is
 * deterministic given the Random, so a seed reproduces a whole run.
 */
public final class Mutations {
    private Mutations() {}

    /** Integers at the edges of the types a parser converts into (and their neighbours). */
    static final long[] INTERESTING = {0, 1, -1, 2, 7, 8, 16, 64, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
        -128, -32768, 23170, 46341, 100_000_000, Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 31, 0xffffffffL, 1L << 32,
        1L << 52, 1L << 53, Long.MAX_VALUE, Long.MIN_VALUE, Long.MAX_VALUE / 2, 1L << 40};

    /** Number literals that trip conversions: overflow of int and long, fractions, exponents, signs. */
    static final List<String> NUMBER_LITERALS = List.of("0", "-0", "1", "-1", "2", "3", "0.5", "1.5", "-1.5", "1e10",
        "1e-10", "1e308", "1e400", "-1e400", "2147483647", "2147483648", "-2147483649", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "99999999999999999999999999999", "0.0", "1e-320", "4.9e-324", "2.0", "1E3", "00", "-", "1.", ".5", "NaN",
        "Infinity", "-Infinity", "0x10");

    private static final Pattern DIGITS = Pattern.compile("-?[0-9][0-9.eE+-]*");

    /** One to `max` stacked mutations of `in` (`other` is the splice partner). */
    public static byte[] mutate(byte[] in, byte[] other, Random rnd, int max) {
        byte[] out = in;
        int n = 1 + rnd.nextInt(max);
        for (int i = 0; i < n; i++) out = once(out, other, rnd);
        return out;
    }

    static byte[] once(byte[] in, byte[] other, Random rnd) {
        if (in.length == 0) return randomBytes(rnd, 1 + rnd.nextInt(8));
        byte[] b = in.clone();
        int at = rnd.nextInt(b.length);
        switch (rnd.nextInt(11)) {
            case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
            case 1 -> b[at] = (byte) rnd.nextInt(256);
            case 2 -> b[at] = (byte) INTERESTING[rnd.nextInt(INTERESTING.length)];
            case 3 -> {
                return integer(b, rnd);
            }
            case 4 -> {
                return insert(b, at, randomBytes(rnd, 1 + rnd.nextInt(rnd.nextBoolean() ? 4 : 64)));
            }
            case 5 -> {
                int len = 1 + rnd.nextInt(Math.min(b.length - at, rnd.nextBoolean() ? 4 : 256));
                return erase(b, at, len);
            }
            case 6 -> {  // duplicate a range (repeated chunks, keys, markers)
                int len = 1 + rnd.nextInt(Math.min(b.length - at, 128));
                return insert(b, rnd.nextInt(b.length + 1), Arrays.copyOfRange(b, at, at + len));
            }
            case 7 -> {  // splice: a prefix of this with a suffix of the other
                if (other == null || other.length == 0) return b;
                int cut = rnd.nextInt(other.length);
                byte[] out = Arrays.copyOf(b, at + other.length - cut);
                System.arraycopy(other, cut, out, at, other.length - cut);
                return out;
            }
            case 8 -> {
                return Arrays.copyOf(b, at);  // truncation
            }
            case 9 -> {
                return numberLiteral(b, rnd);
            }
            default -> {  // overwrite a range with a copy of another part
                int len = 1 + rnd.nextInt(Math.min(b.length - at, 32));
                int to = rnd.nextInt(b.length - len + 1);
                System.arraycopy(in, at, b, to, len);
            }
        }
        return b;
    }

    /** An interesting integer of 1, 2, 4 or 8 bytes, little- or big-endian, over bytes at a random offset. */
    static byte[] integer(byte[] b, Random rnd) {
        int width = 1 << rnd.nextInt(4);
        if (b.length < width) return b;
        long v = INTERESTING[rnd.nextInt(INTERESTING.length)];
        if (rnd.nextInt(4) == 0) v += rnd.nextInt(3) - 1;
        putInteger(b, rnd.nextInt(b.length - width + 1), width, v, rnd.nextBoolean());
        return b;
    }

    static void putInteger(byte[] b, int at, int width, long v, boolean bigEndian) {
        for (int i = 0; i < width; i++) {
            int shift = 8 * (bigEndian ? width - 1 - i : i);
            b[at + i] = (byte) (v >>> shift);
        }
    }

    /** A run of digits in the (text) input replaced by an interesting literal; unchanged when there is none. */
    static byte[] numberLiteral(byte[] b, Random rnd) {
        String s = new String(b, StandardCharsets.ISO_8859_1);
        Matcher m = DIGITS.matcher(s);
        int count = 0;
        while (m.find()) count++;
        if (count == 0) return b;
        int pick = rnd.nextInt(count);
        m.reset();
        for (int i = 0; i <= pick; i++) m.find();
        String lit = NUMBER_LITERALS.get(rnd.nextInt(NUMBER_LITERALS.size()));
        return (s.substring(0, m.start()) + lit + s.substring(m.end())).getBytes(StandardCharsets.ISO_8859_1);
    }

    static byte[] randomBytes(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    static byte[] insert(byte[] b, int at, byte[] what) {
        byte[] out = new byte[b.length + what.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(what, 0, out, at, what.length);
        System.arraycopy(b, at, out, at + what.length, b.length - at);
        return out;
    }

    static byte[] erase(byte[] b, int at, int len) {
        byte[] out = new byte[b.length - len];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(b, at + len, out, at, b.length - at - len);
        return out;
    }
}
