package dev.vtprune.pipeline;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face {@code tokenizer.json} with a BPE model — the format of Qwen2 (InternVL2-1B)
 * and llava-1.5-hf — implemented from the format's specification: added (special) tokens are
 * matched first, then the normalizer (NFC, Prepend, Replace, Sequence), the pre-tokenizer
 * (ByteLevel, Split, Metaspace, Sequence) and BPE merges by rank, with byte fallback
 * (&lt;0xXX&gt; tokens) or the unknown token for symbols outside the vocabulary. A component it does
 * not implement is an error naming it, never a silent approximation.
 *
 * <p>Checkpoints that ship only a sentencepiece {@code tokenizer.model} (InternVL2-2B's
 * InternLM2) are not covered.
 */
public final class HfTokenizer implements Tokenizer {
    private final Path file;
    private final Map<String, Integer> vocab;
    private final Map<String, Integer> mergeRank;
    private final List<Map.Entry<String, Integer>> added;  // longest first
    private final List<Step> normalizer;
    private final List<Step> preTokenizer;
    private final boolean byteLevel, byteFallback, fuseUnk;
    private final Integer unk;

    /** One normalizer or pre-tokenizer step: text pieces in, text pieces out. */
    private interface Step {
        List<String> apply(List<String> pieces);
    }

    private HfTokenizer(Path file, JsonObject json) {
        this.file = file;
        JsonObject model = object(json, "model");
        String type = model.has("type") ? model.get("type").getAsString() : "BPE";
        if (!type.equals("BPE")) throw unsupported("model type", type);
        vocab = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : object(model, "vocab").entrySet()) vocab.put(e.getKey(), e.getValue().getAsInt());
        mergeRank = new HashMap<>();
        JsonArray merges = model.has("merges") ? model.getAsJsonArray("merges") : new JsonArray();
        for (int i = 0; i < merges.size(); i++) {
            JsonElement m = merges.get(i);
            String pair = m.isJsonArray() ? m.getAsJsonArray().get(0).getAsString() + " " + m.getAsJsonArray().get(1).getAsString()
                    : m.getAsString();
            mergeRank.putIfAbsent(pair, i);
        }
        byteFallback = model.has("byte_fallback") && model.get("byte_fallback").getAsBoolean();
        fuseUnk = model.has("fuse_unk") && model.get("fuse_unk").getAsBoolean();
        unk = model.has("unk_token") && !model.get("unk_token").isJsonNull() ? vocab.get(model.get("unk_token").getAsString()) : null;
        added = new ArrayList<>();
        if (json.has("added_tokens")) {
            for (JsonElement e : json.getAsJsonArray("added_tokens")) {
                JsonObject t = e.getAsJsonObject();
                added.add(Map.entry(t.get("content").getAsString(), t.get("id").getAsInt()));
            }
        }
        added.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> e.getKey().length()).reversed());
        normalizer = steps(json.get("normalizer"), "normalizer");
        boolean[] level = {false};
        preTokenizer = steps(json.get("pre_tokenizer"), "pre_tokenizer", level);
        byteLevel = level[0];
    }

    /** Reads a tokenizer.json (a file, or a checkpoint directory holding one). */
    public static HfTokenizer load(Path path) {
        Path f = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.exists(f)) throw new IllegalArgumentException("no tokenizer.json at " + f);
        try {
            return new HfTokenizer(f, JsonParser.parseString(Files.readString(f, StandardCharsets.UTF_8)).getAsJsonObject());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException) throw e;
            throw new IllegalArgumentException("tokenizer " + f + " is not a valid tokenizer.json: " + e.getMessage(), e);
        }
    }

    @Override
    public long[] encode(String text) {
        List<Long> ids = new ArrayList<>();
        int start = 0;
        while (start < text.length()) {  // split at added tokens, longest match first
            int at = -1;
            Map.Entry<String, Integer> hit = null;
            for (Map.Entry<String, Integer> a : added) {
                int i = text.indexOf(a.getKey(), start);
                if (i >= 0 && (at < 0 || i < at)) {
                    at = i;
                    hit = a;
                }
            }
            int end = at < 0 ? text.length() : at;
            if (end > start) encodePlain(text.substring(start, end), ids);
            if (hit == null) break;
            ids.add((long) hit.getValue());
            start = at + hit.getKey().length();
        }
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    @Override
    public String describe() {
        return "tokenizer.json BPE (" + vocab.size() + " tokens, " + mergeRank.size() + " merges) from " + file;
    }

    private void encodePlain(String text, List<Long> ids) {
        List<String> pieces = List.of(text);
        for (Step s : normalizer) pieces = s.apply(pieces);
        String normalized = String.join("", pieces);
        List<String> words = List.of(normalized);
        for (Step s : preTokenizer) words = s.apply(words);
        for (String word : words) {
            if (word.isEmpty()) continue;
            boolean unkBefore = false;
            for (String symbol : bpe(byteLevel ? toByteLevel(word) : word)) {
                Integer id = vocab.get(symbol);
                if (id != null) {
                    ids.add((long) id);
                    unkBefore = false;
                } else if (byteFallback) {
                    for (byte b : symbol.getBytes(StandardCharsets.UTF_8)) {
                        Integer bid = vocab.get(String.format("<0x%02X>", b & 0xFF));
                        if (bid == null) throw new IllegalArgumentException("tokenizer " + file + ": byte fallback token <0x"
                                + String.format("%02X", b & 0xFF) + "> is not in the vocabulary");
                        ids.add((long) bid);
                    }
                } else if (unk != null) {
                    if (!(fuseUnk && unkBefore)) ids.add((long) unk);
                    unkBefore = true;
                } else {
                    throw new IllegalArgumentException("tokenizer " + file + ": '" + symbol + "' is not in the vocabulary and "
                            + "there is neither byte fallback nor an unknown token");
                }
            }
        }
    }

    /** BPE: the word's characters merged pair by pair, lowest merge rank first, leftmost on ties. */
    private List<String> bpe(String word) {
        List<String> symbols = new ArrayList<>();
        word.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
        while (symbols.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRank.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) break;
            symbols.set(best, symbols.get(best) + symbols.get(best + 1));
            symbols.remove(best + 1);
        }
        return symbols;
    }

    // ------------------------------------------------------------------ byte-level (GPT-2)

    private static final char[] BYTE_TO_CHAR = new char[256];

    static {
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) BYTE_TO_CHAR[b] = printable[b] ? (char) b : (char) (256 + n++);
    }

    /** GPT-2's reversible map of UTF-8 bytes onto printable characters. */
    static String toByteLevel(String s) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) out.append(BYTE_TO_CHAR[b & 0xFF]);
        return out.toString();
    }

    /** GPT-2's split, used by ByteLevel with use_regex. */
    private static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    // ------------------------------------------------------------------ components

    private List<Step> steps(JsonElement e, String what) {
        return steps(e, what, new boolean[1]);
    }

    private List<Step> steps(JsonElement e, String what, boolean[] byteLevelSeen) {
        List<Step> out = new ArrayList<>();
        if (e == null || e.isJsonNull()) return out;
        JsonObject o = e.getAsJsonObject();
        String type = o.get("type").getAsString();
        switch (type) {
            case "Sequence": {
                String key = o.has("normalizers") ? "normalizers" : "pretokenizers";
                for (JsonElement x : o.getAsJsonArray(key)) out.addAll(steps(x, what, byteLevelSeen));
                return out;
            }
            case "NFC":
                out.add(p -> map(p, s -> Normalizer.normalize(s, Normalizer.Form.NFC)));
                return out;
            case "NFKC":
                out.add(p -> map(p, s -> Normalizer.normalize(s, Normalizer.Form.NFKC)));
                return out;
            case "Prepend": {
                String prefix = o.get("prepend").getAsString();
                out.add(p -> map(p, s -> s.isEmpty() ? s : prefix + s));
                return out;
            }
            case "Replace": {
                String from = o.getAsJsonObject("pattern").has("String") ? Pattern.quote(o.getAsJsonObject("pattern").get("String").getAsString())
                        : o.getAsJsonObject("pattern").get("Regex").getAsString();
                Pattern pattern = Pattern.compile(from);
                String to = Matcher.quoteReplacement(o.get("content").getAsString());
                out.add(p -> map(p, s -> pattern.matcher(s).replaceAll(to)));
                return out;
            }
            case "ByteLevel": {
                byteLevelSeen[0] = true;
                boolean prefix = o.has("add_prefix_space") && o.get("add_prefix_space").getAsBoolean();
                boolean regex = !o.has("use_regex") || o.get("use_regex").getAsBoolean();
                out.add(p -> {
                    List<String> r = new ArrayList<>();
                    for (String s : p) {
                        String t = prefix && !s.startsWith(" ") ? " " + s : s;
                        if (regex) r.addAll(split(t, GPT2_SPLIT));
                        else r.add(t);
                    }
                    return r;
                });
                return out;
            }
            case "Split": {
                JsonObject pat = o.getAsJsonObject("pattern");
                Pattern pattern = Pattern.compile(pat.has("Regex") ? pat.get("Regex").getAsString()
                        : Pattern.quote(pat.get("String").getAsString()));
                String behavior = o.has("behavior") ? o.get("behavior").getAsString() : "Isolated";
                if (!behavior.equals("Isolated") || (o.has("invert") && o.get("invert").getAsBoolean())) {
                    throw unsupported(what + " Split behavior", behavior + (o.has("invert") ? " invert=" + o.get("invert") : ""));
                }
                out.add(p -> {
                    List<String> r = new ArrayList<>();
                    for (String s : p) r.addAll(split(s, pattern));
                    return r;
                });
                return out;
            }
            case "Metaspace": {
                String rep = o.has("replacement") ? o.get("replacement").getAsString() : "\u2581";
                String scheme = o.has("prepend_scheme") ? o.get("prepend_scheme").getAsString()
                        : (!o.has("add_prefix_space") || o.get("add_prefix_space").getAsBoolean()) ? "always" : "never";
                boolean splitWords = !o.has("split") || o.get("split").getAsBoolean();
                out.add(p -> {
                    List<String> r = new ArrayList<>();
                    for (int i = 0; i < p.size(); i++) {
                        String s = p.get(i).replace(" ", rep);
                        if (!scheme.equals("never") && !s.startsWith(rep) && (scheme.equals("always") || i == 0)) s = rep + s;
                        if (!splitWords) {
                            r.add(s);
                            continue;
                        }
                        int from = 0;  // split before every replacement character, keeping it
                        for (int j = 1; j < s.length(); j++) {
                            if (s.startsWith(rep, j)) {
                                r.add(s.substring(from, j));
                                from = j;
                            }
                        }
                        r.add(s.substring(from));
                    }
                    return r;
                });
                return out;
            }
            default:
                throw unsupported(what, type);
        }
    }

    /** The text cut into the pattern's matches and the gaps between them, in order. */
    private static List<String> split(String s, Pattern pattern) {
        List<String> r = new ArrayList<>();
        Matcher m = pattern.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) r.add(s.substring(last, m.start()));
            if (m.end() > m.start()) r.add(m.group());
            last = m.end();
        }
        if (last < s.length()) r.add(s.substring(last));
        return r;
    }

    private static List<String> map(List<String> p, java.util.function.UnaryOperator<String> f) {
        List<String> r = new ArrayList<>(p.size());
        for (String s : p) r.add(f.apply(s));
        return r;
    }

    private static JsonObject object(JsonObject o, String key) {
        if (!o.has(key) || !o.get(key).isJsonObject()) throw new IllegalArgumentException("missing object '" + key + "'");
        return o.getAsJsonObject(key);
    }

    private IllegalArgumentException unsupported(String what, String type) {
        return new IllegalArgumentException("tokenizer " + file + ": " + what + " '" + type + "' is not supported (supported: "
                + "BPE with NFC/NFKC/Prepend/Replace normalizers and ByteLevel/Split/Metaspace pre-tokenizers)");
    }
}
