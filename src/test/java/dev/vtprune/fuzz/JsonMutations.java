package dev.vtprune.fuzz;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.internal.LazilyParsedNumber;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Structure-aware mutations of a JSON document: a random value anywhere in the tree replaced by
 * another kind (object, array, string, boolean, null), by an edge-case number (zero, negatives,
 * huge, fractional, overflowing int and long, 1e400, NaN), by its number shifted, doubled or
 * negated, by a copy of another value of the tree, wrapped in an array or object; members
 * deleted, added under a key seen elsewhere, or renamed. Byte-level mutations rarely get past a
 * JSON parser; these reach the code that reads the values.
 */
public final class JsonMutations {
    private JsonMutations() {}

    /** A slot that holds a value: an object member or an array element. */
    private record Slot(JsonElement parent, String key, int index) {
        JsonElement get() {
            return parent instanceof JsonObject o ? o.get(key) : ((JsonArray) parent).get(index);
        }

        void set(JsonElement v) {
            if (parent instanceof JsonObject o) o.add(key, v);
            else ((JsonArray) parent).set(index, v);
        }

        void remove() {
            if (parent instanceof JsonObject o) o.remove(key);
            else ((JsonArray) parent).remove(index);
        }
    }

    /** The document mutated 1 to `max` times, or null when `json` does not parse (the caller falls back to bytes). */
    public static String mutate(String json, Random rnd, int max) {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (RuntimeException e) {
            return null;
        }
        int n = 1 + rnd.nextInt(max);
        for (int i = 0; i < n; i++) root = once(root, rnd);
        try {
            return root.toString();
        } catch (RuntimeException e) {
            return null;
        }
    }

    public static byte[] mutate(byte[] json, Random rnd, int max) {
        String s = mutate(new String(json, StandardCharsets.UTF_8), rnd, max);
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static JsonElement once(JsonElement root, Random rnd) {
        List<Slot> slots = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        List<JsonObject> objects = new ArrayList<>();
        collect(root, slots, keys, objects);
        if (slots.isEmpty()) return rnd.nextBoolean() ? value(rnd, root, keys) : root;
        Slot s = slots.get(rnd.nextInt(slots.size()));
        JsonElement old = s.get();
        switch (rnd.nextInt(8)) {
            case 0, 1, 2 -> s.set(value(rnd, old, keys));
            case 3 -> s.set(number(rnd, old));
            case 4 -> s.set(slots.get(rnd.nextInt(slots.size())).get().deepCopy());
            case 5 -> s.remove();
            case 6 -> {
                if (objects.isEmpty()) break;
                JsonObject o = objects.get(rnd.nextInt(objects.size()));
                String key = keys.isEmpty() || rnd.nextInt(4) == 0 ? "k" + rnd.nextInt(100) : keys.get(rnd.nextInt(keys.size()));
                o.add(key, rnd.nextBoolean() ? value(rnd, old, keys) : old.deepCopy());
            }
            default -> {
                if (rnd.nextBoolean()) {
                    JsonArray a = new JsonArray();
                    a.add(old.deepCopy());
                    s.set(a);
                } else if (s.parent instanceof JsonObject o && !keys.isEmpty()) {  // rename the member
                    o.remove(s.key);
                    o.add(keys.get(rnd.nextInt(keys.size())), old);
                } else {
                    JsonObject o = new JsonObject();
                    o.add(keys.isEmpty() ? "x" : keys.get(rnd.nextInt(keys.size())), old.deepCopy());
                    s.set(o);
                }
            }
        }
        return root;
    }

    private static void collect(JsonElement e, List<Slot> slots, List<String> keys, List<JsonObject> objects) {
        if (e.isJsonObject()) {
            JsonObject o = e.getAsJsonObject();
            objects.add(o);
            for (Map.Entry<String, JsonElement> m : o.entrySet()) {
                slots.add(new Slot(o, m.getKey(), -1));
                keys.add(m.getKey());
                collect(m.getValue(), slots, keys, objects);
            }
        } else if (e.isJsonArray()) {
            JsonArray a = e.getAsJsonArray();
            for (int i = 0; i < a.size(); i++) {
                slots.add(new Slot(a, null, i));
                collect(a.get(i), slots, keys, objects);
            }
        }
    }

    /** A value of a random kind. */
    static JsonElement value(Random rnd, JsonElement old, List<String> keys) {
        switch (rnd.nextInt(12)) {
            case 0:
                return new JsonObject();
            case 1: {
                JsonObject o = new JsonObject();
                o.addProperty(keys.isEmpty() ? "type" : keys.get(rnd.nextInt(keys.size())), 1);
                return o;
            }
            case 2:
                return new JsonArray();
            case 3: {
                JsonArray a = new JsonArray();
                int n = 1 + rnd.nextInt(3);
                for (int i = 0; i < n; i++) a.add(rnd.nextBoolean() ? literal(rnd) : new JsonPrimitive("x"));
                return a;
            }
            case 4:
                return new JsonPrimitive(List.of("", "x", "v1", "v2", "dynamic", "linear", "gelu", "F32", "I64",
                        "internvl_chat", "llava", "InternLM2ForCausalLM", "Qwen2ForCausalLM", "layer_norm", "1",
                        "true", "\u0000", "\uD83D\uDE00").get(rnd.nextInt(18)));
            case 5:
                return new JsonPrimitive("s".repeat(1 + rnd.nextInt(5000)));
            case 6:
                return new JsonPrimitive(rnd.nextBoolean());
            case 7:
                return JsonNull.INSTANCE;
            default:
                return literal(rnd);
        }
    }

    /** An edge-case number, written as the literal (no rounding through double). */
    static JsonElement literal(Random rnd) {
        String lit = Mutations.NUMBER_LITERALS.get(rnd.nextInt(Mutations.NUMBER_LITERALS.size()));
        try {
            new BigDecimal(lit);
        } catch (NumberFormatException notJsonNumber) {
            lit = "1e400";  // NaN, 0x10, "-", "1." ... are not JSON numbers; the byte mutations try those
        }
        return new JsonPrimitive(new LazilyParsedNumber(lit));
    }

    /** The old value as a number changed: +-1, doubled, negated, x1e6, zero, halved; else an edge literal. */
    static JsonElement number(Random rnd, JsonElement old) {
        if (!old.isJsonPrimitive() || !old.getAsJsonPrimitive().isNumber()) return literal(rnd);
        BigDecimal v;
        try {
            v = new BigDecimal(old.getAsString());
        } catch (NumberFormatException e) {
            return literal(rnd);
        }
        BigDecimal out = switch (rnd.nextInt(7)) {
            case 0 -> v.add(BigDecimal.ONE);
            case 1 -> v.subtract(BigDecimal.ONE);
            case 2 -> v.multiply(BigDecimal.valueOf(2));
            case 3 -> v.negate();
            case 4 -> v.multiply(BigDecimal.valueOf(1_000_000));
            case 5 -> BigDecimal.ZERO;
            default -> v.divide(BigDecimal.valueOf(2));
        };
        return new JsonPrimitive(new LazilyParsedNumber(out.toString()));
    }
}
