package dev.vtprune.cli;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The command line's JSON: one object, a field per line, arrays on one line (a kept-index list
 * of thousands stays readable and greppable). Numbers are written so that they parse back to
 * the same double (shortest round-trip form); NaN and infinities are refused.
 */
final class JsonOut {
    private final Map<String, String> fields = new LinkedHashMap<>();

    JsonOut put(String name, String value) {
        fields.put(name, quote(value));
        return this;
    }

    JsonOut put(String name, long value) {
        fields.put(name, Long.toString(value));
        return this;
    }

    JsonOut put(String name, double value) {
        fields.put(name, number(value));
        return this;
    }

    JsonOut put(String name, long[] values) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) s.append(i == 0 ? "" : ", ").append(values[i]);
        fields.put(name, s.append(']').toString());
        return this;
    }

    JsonOut put(String name, double[] values) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) s.append(i == 0 ? "" : ", ").append(number(values[i]));
        fields.put(name, s.append(']').toString());
        return this;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("{\n");
        int i = 0;
        for (Map.Entry<String, String> f : fields.entrySet()) {
            s.append("  ").append(quote(f.getKey())).append(": ").append(f.getValue());
            s.append(++i < fields.size() ? ",\n" : "\n");
        }
        return s.append('}').toString();
    }

    static String number(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) throw new IllegalStateException("non-finite number in JSON output: " + v);
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.format(Locale.ROOT, "%.1f", v);
        return Double.toString(v);
    }

    static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': q.append("\\\""); break;
                case '\\': q.append("\\\\"); break;
                case '\n': q.append("\\n"); break;
                case '\t': q.append("\\t"); break;
                default:
                    if (c < 0x20) q.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    else q.append(c);
            }
        }
        return q.append('"').toString();
    }
}
