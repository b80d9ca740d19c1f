package dev.vtprune.task;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.pipeline.Encoding;
import dev.vtprune.pipeline.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The task's word-level tokenizer, stored as a Hugging Face {@code tokenizer.json} with a
 * "WordLevel" model: the special tokens of the InternVL chat template are added tokens matched
 * first; the rest of the text is lower-cased (normalizer "Lowercase") and split by the
 * "Whitespace" pre-tokenizer ({@code \w+|[^\w\s]+}); each piece is looked up, unknown pieces
 * become {@code <unk>}. Id 0 is {@code <pad>}, which is also what the visual placeholder slots
 * hold.
 */
public final class WordTokenizer implements Tokenizer {
    public static final String PAD = "<pad>", UNK = "<unk>";
    /** Added tokens: the pad and unknown tokens and the InternVL chat template's markers. */
    /** The padding and unknown tokens, then the chat template's markers (kept whole, as in the real tokenizers). */
    static final List<String> SPECIAL = specials();
    private static final Pattern WORD = Pattern.compile("\\w+|[^\\w\\s]+");

    private static List<String> specials() {
        List<String> s = new ArrayList<>(List.of(PAD, UNK));
        s.addAll(dev.vtprune.pipeline.PromptTemplate.INTERNVL.specials());
        return List.copyOf(s);
    }

    private final Map<String, Integer> vocab;
    private final List<String> words;
    private final List<String> special;
    private final int unk;

    private WordTokenizer(Map<String, Integer> vocab, List<String> special) {
        this.vocab = Collections.unmodifiableMap(new LinkedHashMap<>(vocab));
        String[] byId = new String[vocab.size()];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (id < 0 || id >= byId.length || byId[id] != null) {
                throw new IllegalArgumentException("tokenizer vocab must number its " + byId.length
                        + " tokens 0.." + (byId.length - 1) + " once each; '" + e.getKey() + "' has id " + id);
            }
            byId[id] = e.getKey();
        }
        words = List.of(byId);
        List<String> longestFirst = new ArrayList<>(special);
        longestFirst.sort((a, b) -> b.length() - a.length());
        this.special = List.copyOf(longestFirst);
        Integer u = vocab.get(UNK);
        if (u == null) throw new IllegalArgumentException("tokenizer vocab has no unknown token '" + UNK + "'");
        unk = u;
    }

    /** The task's tokenizer: every word its questions, answers and captions use. */
    public static WordTokenizer task() {
        List<String> all = new ArrayList<>(SPECIAL);
        all.addAll(List.of("user", "assistant", "what", "colour", "is", "the", "shape", "object", "objects", "how",
                "many", "are", "there", "left", "or", "right", "of", "a", "?", "yes", "no", "and", "nothing"));
        all.addAll(Question.NUMBERS);
        for (Colour c : Colour.values()) all.add(c.word());
        for (Shape s : Shape.values()) all.add(s.word());
        Map<String, Integer> v = new LinkedHashMap<>();
        for (String w : all) {
            if (v.putIfAbsent(w, v.size()) != null) throw new IllegalStateException("word '" + w + "' listed twice");
        }
        return new WordTokenizer(v, SPECIAL);
    }

    public int size() {
        return words.size();
    }

    /** The id of one token, or an IllegalArgumentException naming it. */
    public int id(String token) {
        Integer id = vocab.get(token);
        if (id == null) throw new IllegalArgumentException("'" + token + "' is not in the vocabulary of " + size() + " tokens");
        return id;
    }

    public String word(long id) {
        if (id < 0 || id >= words.size()) {
            throw new IllegalArgumentException("token id must be in [0, " + words.size() + "), got " + id);
        }
        return words.get((int) id);
    }

    /** Words and punctuation runs, lower-cased, with the template's markers kept whole; no special tokens are added. */
    @Override
    public Encoding encode(String text, boolean addSpecialTokens) {
        List<long[]> out = new ArrayList<>();  // {id, start, end}
        int at = 0;
        while (at < text.length()) {
            int next = text.length();
            String found = null;
            for (String s : special) {
                int i = text.indexOf(s, at);
                if (i >= 0 && i < next) {
                    next = i;
                    found = s;
                }
            }
            Matcher m = WORD.matcher(text.substring(at, next));
            while (m.find()) {
                out.add(new long[] {vocab.getOrDefault(m.group().toLowerCase(Locale.ROOT), unk), at + m.start(), at + m.end()});
            }
            if (found == null) break;
            out.add(new long[] {vocab.get(found), next, next + found.length()});
            at = next + found.length();
        }
        long[] ids = new long[out.size()];
        int[] start = new int[ids.length], end = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = out.get(i)[0];
            start[i] = (int) out.get(i)[1];
            end[i] = (int) out.get(i)[2];
        }
        return new Encoding(ids, start, end);
    }

    @Override
    public long tokenId(String token) {
        Integer id = vocab.get(token);
        if (id == null) throw new IllegalArgumentException("argument 'token': '" + token + "' is not a token of the task's vocabulary");
        return id;
    }

    @Override
    public String decode(long[] ids) {
        StringBuilder b = new StringBuilder();
        for (long id : ids) {
            if (b.length() > 0) b.append(' ');
            b.append(word(id));
        }
        return b.toString();
    }

    @Override
    public String describe() {
        return "word-level tokenizer (" + size() + " tokens)";
    }

    /** This tokenizer as a Hugging Face tokenizer.json (WordLevel model). */
    public String toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", null);
        root.add("padding", null);
        JsonArray added = new JsonArray();
        for (String s : SPECIAL) {
            JsonObject t = new JsonObject();
            t.addProperty("id", vocab.get(s));
            t.addProperty("content", s);
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        root.add("added_tokens", added);
        JsonObject norm = new JsonObject();
        norm.addProperty("type", "Lowercase");
        root.add("normalizer", norm);
        JsonObject pre = new JsonObject();
        pre.addProperty("type", "Whitespace");
        root.add("pre_tokenizer", pre);
        root.add("post_processor", null);
        root.add("decoder", null);
        JsonObject model = new JsonObject();
        model.addProperty("type", "WordLevel");
        JsonObject v = new JsonObject();
        for (Map.Entry<String, Integer> e : vocab.entrySet()) v.addProperty(e.getKey(), e.getValue());
        model.add("vocab", v);
        model.addProperty("unk_token", UNK);
        root.add("model", model);
        return new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(root) + "\n";
    }

    public void write(Path file) {
        try {
            Files.writeString(file, toJson(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Whether `file` is a tokenizer.json with a WordLevel model (false for BPE and others). */
    public static boolean isWordLevel(Path file) {
        try {
            JsonElement model = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8))
                    .getAsJsonObject().get("model");
            return model != null && model.isJsonObject() && model.getAsJsonObject().has("type")
                    && model.getAsJsonObject().get("type").getAsString().equals("WordLevel");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + ": not a tokenizer.json (" + e.getMessage() + ")", e);
        }
    }

    /** Reads a WordLevel tokenizer.json (Lowercase normalizer, Whitespace pre-tokenizer, as written here). */
    public static WordTokenizer load(Path file) {
        String where = file.toString();
        try {
            JsonObject root = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
            JsonObject model = root.getAsJsonObject("model");
            if (model == null || !"WordLevel".equals(model.get("type").getAsString())) {
                throw new IllegalArgumentException(where + ": 'model.type' must be \"WordLevel\", got "
                        + (model == null ? "no model" : model.get("type")));
            }
            expectType(root, "normalizer", "Lowercase", where);
            expectType(root, "pre_tokenizer", "Whitespace", where);
            Map<String, Integer> v = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : model.getAsJsonObject("vocab").entrySet()) {
                v.put(e.getKey(), e.getValue().getAsInt());
            }
            List<String> special = new ArrayList<>();
            JsonArray added = root.has("added_tokens") ? root.getAsJsonArray("added_tokens") : new JsonArray();
            for (JsonElement e : added) special.add(e.getAsJsonObject().get("content").getAsString());
            return new WordTokenizer(v, special);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (IllegalStateException | ClassCastException | NullPointerException e) {
            throw new IllegalArgumentException(where + ": not a WordLevel tokenizer.json (" + e + ")", e);
        }
    }

    private static void expectType(JsonObject root, String key, String type, String where) {
        JsonElement e = root.get(key);
        String got = e == null || e.isJsonNull() ? "null" : e.getAsJsonObject().get("type").getAsString();
        if (!got.equals(type)) throw new IllegalArgumentException(where + ": '" + key + "' must be of type \"" + type + "\", got " + got);
    }
}
