package dev.vtprune.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.MalformedJsonException;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Strict JSON for file headers and checkpoint indexes. Gson's own tree parser is lenient (it
 * accepts comments, unquoted names and trailing content) and lets a repeated key silently
 * replace the first; in a header a repeated tensor name would hide a tensor, so this reader
 * rejects repeated keys at every level and anything after the top-level value. Numbers keep
 * their exact decimal form so that "2.0" or "1e3" can be told apart from an integer.
 */
final class Json {
    private Json() {}

    /** Deeper nesting is no header or index (they nest 3 levels) and would exhaust the stack. */
    private static final int MAX_DEPTH = 64;

    /** Longest rendering of a JSON value inside an error message. */
    private static final int SHOW_CHARS = 120;

    /**
     * Decodes strict UTF-8 and parses one JSON document; bad bytes or bad syntax are an
     * IllegalArgumentException "&lt;where&gt;: &lt;subject&gt; must be ..., got ...".
     */
    static JsonElement parseUtf8(byte[] bytes, String where, String subject) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw IoErrors.invalid(where, subject, "be UTF-8 text", "bytes that are not (" + e + ")");
        }
        try {
            return parse(text);
        } catch (IOException | NumberFormatException e) {
            throw IoErrors.invalid(where, subject, "be valid JSON", "a syntax error: " + syntaxError(e));
        }
    }

    /** Gson's message without its advice to parse leniently and its troubleshooting link. */
    private static String syntaxError(Exception e) {
        String m = String.valueOf(e.getMessage());
        int link = m.indexOf("\nSee ");
        if (link >= 0) m = m.substring(0, link);
        return m.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed JSON");
    }

    /** Parses one JSON document; MalformedJsonException (or EOFException) says why it is not one. */
    static JsonElement parse(String text) throws IOException {
        JsonReader r = new JsonReader(new StringReader(text));
        r.setStrictness(Strictness.STRICT);
        JsonElement value = read(r, 0);
        JsonToken next;
        try {
            next = r.peek();
        } catch (MalformedJsonException e) {
            next = null;  // what follows the value does not even tokenise
        }
        if (next != JsonToken.END_DOCUMENT) throw new MalformedJsonException("content after the end of the JSON value");
        return value;
    }

    private static JsonElement read(JsonReader r, int depth) throws IOException {
        if (depth > MAX_DEPTH) throw new MalformedJsonException("nesting deeper than " + MAX_DEPTH + " at " + r.getPath());
        switch (r.peek()) {
            case BEGIN_OBJECT: {
                JsonObject o = new JsonObject();
                r.beginObject();
                while (r.hasNext()) {
                    String key = r.nextName();
                    if (o.has(key)) throw new MalformedJsonException("key '" + key + "' repeated at " + r.getPath());
                    o.add(key, read(r, depth + 1));
                }
                r.endObject();
                return o;
            }
            case BEGIN_ARRAY: {
                JsonArray a = new JsonArray();
                r.beginArray();
                while (r.hasNext()) a.add(read(r, depth + 1));
                r.endArray();
                return a;
            }
            case STRING:
                return new JsonPrimitive(r.nextString());
            case NUMBER:
                return new JsonPrimitive(new BigDecimal(r.nextString()));
            case BOOLEAN:
                return new JsonPrimitive(r.nextBoolean());
            case NULL:
                r.nextNull();
                return JsonNull.INSTANCE;
            default:
                throw new MalformedJsonException("unexpected " + r.peek() + " at " + r.getPath());
        }
    }

    /** The value as a long when it is an integer literal (no fraction, no exponent) that fits; else null. */
    static Long integer(JsonElement e) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) return null;
        Number n = e.getAsNumber();
        if (!(n instanceof BigDecimal d) || d.scale() != 0) return null;
        try {
            return d.longValueExact();
        } catch (ArithmeticException tooLarge) {
            return null;
        }
    }

    /** The value as a string when it is a JSON string; else null. */
    static String string(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : null;
    }

    /** A JSON value for an error message, shortened when long. */
    static String show(JsonElement e) {
        if (e == null) return "nothing";
        String s = e.toString();
        return s.length() <= SHOW_CHARS ? s : s.substring(0, SHOW_CHARS) + "... (" + s.length() + " chars)";
    }
}
