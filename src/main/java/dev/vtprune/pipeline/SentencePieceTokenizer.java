package dev.vtprune.pipeline;

import dev.vtprune.internal.Closing;
import ai.djl.sentencepiece.SpProcessor;
import ai.djl.sentencepiece.SpTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.internal.Args;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A sentencepiece {@code tokenizer.model} (InternVL2-2B's and -8B's InternLM2, Llama) run by the
 * sentencepiece library (C++, through DJL's binding; the natives are in its jar), as Hugging
 * Face's slow tokenizers run it: the added tokens of {@code added_tokens.json} and
 * {@code tokenizer_config.json}'s {@code added_tokens_decoder} (and its bos/eos/unk strings) are
 * split out of the text first, leftmost and longest, and map to their ids; each text between them
 * goes through sentencepiece on its own; {@code add_bos_token} (default true) and
 * {@code add_eos_token} (default false) say what {@code addSpecialTokens} adds.
 *
 * <p>Sentencepiece returns pieces, not offsets: the offsets are found by aligning the pieces'
 * text ({@code ▁} as a space, byte pieces decoded as UTF-8) with the input, allowing for the dummy
 * prefix space, whitespace the normalizer dropped, and NFKC-normalised characters.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    private final Closing closing = new Closing("SentencePieceTokenizer");
    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    /** A token split out before sentencepiece; lstrip/rstrip take the whitespace beside it with it. */
    private record Added(String content, long id, boolean lstrip, boolean rstrip) {}

    private final Path file;
    private final SpTokenizer sp;
    private final SpProcessor processor;
    private final Map<Character, List<Added>> addedByFirstChar = new HashMap<>();  // longest first
    private final Map<String, Added> added = new LinkedHashMap<>();
    private final Map<Long, String> addedById = new HashMap<>();
    private final Long bos, eos;
    private final boolean dummyPrefix;  // the model puts a ▁ before each text (add_dummy_prefix)

    private SentencePieceTokenizer(Path file, SpTokenizer sp, JsonObject config, JsonObject addedJson) {
        this.file = file;
        this.sp = sp;
        this.processor = sp.getProcessor();
        String[] probe = processor.tokenize("a");
        this.dummyPrefix = probe.length > 0 && probe[0].startsWith("\u2581");
        if (config != null && config.has("added_tokens_decoder")) {
            for (Map.Entry<String, JsonElement> e : config.getAsJsonObject("added_tokens_decoder").entrySet()) {
                JsonObject t = e.getValue().getAsJsonObject();
                add(new Added(t.get("content").getAsString(), Long.parseLong(e.getKey()), flag(t, "lstrip"), flag(t, "rstrip")));
            }
        }
        if (addedJson != null) {
            for (Map.Entry<String, JsonElement> e : addedJson.entrySet()) {
                if (!added.containsKey(e.getKey())) add(new Added(e.getKey(), e.getValue().getAsLong(), false, false));
            }
        }
        String bosToken = specialToken(config, "bos_token", "<s>"), eosToken = specialToken(config, "eos_token", "</s>");
        for (String s : new String[] {bosToken, eosToken, specialToken(config, "unk_token", "<unk>")}) {
            if (s != null && !added.containsKey(s) && pieceId(s) >= 0) add(new Added(s, pieceId(s), false, false));
        }
        boolean addBos = config == null || !config.has("add_bos_token") || config.get("add_bos_token").getAsBoolean();
        boolean addEos = config != null && config.has("add_eos_token") && config.get("add_eos_token").getAsBoolean();
        bos = addBos ? requiredId(bosToken, "bos_token") : null;
        eos = addEos ? requiredId(eosToken, "eos_token") : null;
        for (List<Added> l : addedByFirstChar.values()) l.sort(Comparator.comparingInt((Added a) -> a.content.length()).reversed());
    }

    /**
     * Reads {@code dir/tokenizer.model} and, when present, {@code dir/tokenizer_config.json} and
     * {@code dir/added_tokens.json}; `dir` may also be the tokenizer.model file itself.
     */
    public static SentencePieceTokenizer load(Path dir) {
        Args.notNull(dir, "dir");
        Path model = Files.isDirectory(dir) ? dir.resolve("tokenizer.model") : dir;
        Path home = model.toAbsolutePath().getParent();
        if (!Files.exists(model)) throw new IllegalArgumentException("no tokenizer.model at " + model);
        JsonObject config = json(home.resolve("tokenizer_config.json")), addedJson = json(home.resolve("added_tokens.json"));
        Djl.init();
        SpTokenizer sp;
        try {
            sp = new SpTokenizer(model);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + model, e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("tokenizer " + model + " is not a valid sentencepiece model: " + e.getMessage(), e);
        }
        try {
            return new SentencePieceTokenizer(model, sp, config, addedJson);
        } catch (RuntimeException e) {
            sp.close();
            throw e;
        }
    }

    private void add(Added a) {
        if (a.content.isEmpty()) throw new IllegalArgumentException("tokenizer " + file + ": an added token with id " + a.id + " is empty");
        added.put(a.content, a);
        addedById.put(a.id, a.content);
        addedByFirstChar.computeIfAbsent(a.content.charAt(0), c -> new ArrayList<>()).add(a);
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens) {
        closing.check();
        Args.notNull(text, "text");
        List<Long> ids = new ArrayList<>();
        List<int[]> spans = new ArrayList<>();
        if (addSpecialTokens && bos != null) {
            ids.add(bos);
            spans.add(new int[] {0, 0});
        }
        int from = 0, i = 0;
        while (i <= text.length()) {
            Added hit = i < text.length() ? match(text, i) : null;
            if (hit == null && i < text.length()) {
                i++;
                continue;
            }
            int tokenStart = i, tokenEnd = hit == null ? i : i + hit.content.length();
            int segmentEnd = i;
            if (hit != null && hit.lstrip) while (segmentEnd > from && Character.isWhitespace(text.charAt(segmentEnd - 1))) segmentEnd--;
            pieces(text, from, segmentEnd, ids, spans);
            if (hit == null) break;
            if (hit.rstrip) while (tokenEnd < text.length() && Character.isWhitespace(text.charAt(tokenEnd))) tokenEnd++;
            ids.add(hit.id);
            spans.add(new int[] {hit.lstrip ? segmentEnd : tokenStart, tokenEnd});
            from = i = tokenEnd;
        }
        if (addSpecialTokens && eos != null) {
            ids.add(eos);
            spans.add(new int[] {text.length(), text.length()});
        }
        int[] start = new int[ids.size()], end = new int[ids.size()];
        for (int k = 0; k < start.length; k++) {
            start[k] = spans.get(k)[0];
            end[k] = spans.get(k)[1];
        }
        return new Encoding(ids.stream().mapToLong(Long::longValue).toArray(), start, end);
    }

    private Added match(String text, int at) {
        List<Added> candidates = addedByFirstChar.get(text.charAt(at));
        if (candidates == null) return null;
        for (Added a : candidates) if (text.startsWith(a.content, at)) return a;
        return null;
    }

    /** Sentencepiece on text[from, to), with offsets aligned to the text. */
    private void pieces(String text, int from, int to, List<Long> ids, List<int[]> spans) {
        if (to <= from) return;
        String segment = text.substring(from, to);
        int[] pieceIds = processor.encode(segment);
        String[] pieces = processor.tokenize(segment);
        if (pieces.length != pieceIds.length) {
            throw new IllegalStateException("sentencepiece returned " + pieces.length + " pieces but " + pieceIds.length + " ids for "
                    + "the same text");
        }
        int[][] local = align(segment, pieces, dummyPrefix);
        for (int k = 0; k < pieces.length; k++) {
            ids.add((long) pieceIds[k]);
            spans.add(new int[] {from + local[k][0], from + local[k][1]});
        }
    }

    /**
     * The char span of each piece in `text`. The pieces' text is laid out char by char, each char
     * owned by the piece(s) that produced it (the byte pieces of one character share it); then it
     * is walked against the input; with a dummy prefix its first char (a space) stands for no text.
     */
    static int[][] align(String text, String[] pieces, boolean dummyPrefix) {
        StringBuilder target = new StringBuilder();
        List<int[]> owner = new ArrayList<>();  // per target char: first and last owning piece
        for (int p = 0; p < pieces.length; p++) {
            if (BYTE_PIECE.matcher(pieces[p]).matches()) {
                int q = p;
                while (q + 1 < pieces.length && BYTE_PIECE.matcher(pieces[q + 1]).matches()) q++;
                appendBytes(pieces, p, q, target, owner);
                p = q;
            } else {
                String s = pieces[p].replace('\u2581', ' ');
                for (int c = 0; c < s.length(); c++) {
                    target.append(s.charAt(c));
                    owner.add(new int[] {p, p});
                }
            }
        }
        int[][] span = new int[pieces.length][];
        int i = 0, j = 0;
        if (dummyPrefix && target.length() > 0 && target.charAt(0) == ' ') claim(span, owner.get(j++), 0, 0);
        while (j < target.length()) {
            char t = target.charAt(j);
            if (i < text.length() && (t == text.charAt(i) || t == ' ' && Character.isWhitespace(text.charAt(i)))) {
                claim(span, owner.get(j), i, i + 1);
                i++;
                j++;
                continue;
            }
            if (t == ' ') {  // a space the normalizer put in: no text of its own
                claim(span, owner.get(j), i, i);
                j++;
                continue;
            }
            if (i < text.length()) {
                int cp = text.codePointAt(i), n = Character.charCount(cp);
                String norm = Normalizer.normalize(text.substring(i, i + n), Normalizer.Form.NFKC);
                if (!norm.isEmpty() && target.indexOf(norm, j) == j) {
                    for (int k = 0; k < norm.length(); k++) claim(span, owner.get(j + k), i, i + n);
                    i += n;
                    j += norm.length();
                    continue;
                }
                int type = Character.getType(cp);
                if (norm.isEmpty() || Character.isWhitespace(cp) || type == Character.CONTROL || type == Character.FORMAT) {
                    i += n;  // dropped by the normalizer
                    continue;
                }
            }
            throw new IllegalStateException("cannot align sentencepiece's pieces with the text at char " + i + " (text "
                    + quote(text) + ", pieces " + String.join(" ", pieces) + ")");
        }
        for (int p = 0; p < pieces.length; p++) if (span[p] == null) span[p] = new int[] {i, i};
        return span;
    }

    private static void claim(int[][] span, int[] owners, int from, int to) {
        for (int p = owners[0]; p <= owners[1]; p++) {
            if (span[p] == null) span[p] = new int[] {from, to};
            else if (to > from) {
                if (span[p][1] <= span[p][0]) span[p][0] = from;  // a zero-width start (dummy prefix) moves to real text
                span[p][1] = Math.max(span[p][1], to);
            }
        }
    }

    /** Byte pieces p..q as UTF-8: each character owned by the pieces of its bytes. */
    private static void appendBytes(String[] pieces, int p, int q, StringBuilder target, List<int[]> owner) {
        int k = p;
        while (k <= q) {
            int lead = Integer.parseInt(pieces[k].substring(3, 5), 16);
            int len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            len = Math.min(len, q - k + 1);
            byte[] b = new byte[len];
            for (int m = 0; m < len; m++) b[m] = (byte) Integer.parseInt(pieces[k + m].substring(3, 5), 16);
            String s;
            try {
                s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                s = "\uFFFD";
            }
            for (int c = 0; c < s.length(); c++) {
                target.append(s.charAt(c));
                owner.add(new int[] {k, k + len - 1});
            }
            k += len;
        }
    }

    private static String quote(String s) {
        return "\"" + (s.length() > 60 ? s.substring(0, 60) + "..." : s) + "\"";
    }

    @Override
    public long tokenId(String token) {
        closing.check();
        Args.notNull(token, "token");
        Added a = added.get(token);
        if (a != null) return a.id;
        int id = pieceId(token);
        if (id < 0) throw new IllegalArgumentException("argument 'token': '" + token + "' is neither an added token nor a piece of " + file);
        return id;
    }

    /** The piece's id, or -1 when the vocabulary has no such piece (sentencepiece answers unk's id then). */
    private int pieceId(String piece) {
        int id = processor.getId(piece);
        return piece.equals(processor.getToken(id)) ? id : -1;
    }

    private long requiredId(String token, String what) {
        if (token == null) throw new IllegalArgumentException("tokenizer " + file + ": " + what + " is null but is to be added");
        Added a = added.get(token);
        if (a != null) return a.id;
        int id = pieceId(token);
        if (id < 0) throw new IllegalArgumentException("tokenizer " + file + ": " + what + " '" + token + "' is not in the vocabulary");
        return id;
    }

    /**
     * Pieces back to text: ▁ as a space, byte pieces as UTF-8, the dummy prefix dropped at the
     * start of each run (as sentencepiece's decode does). Done here because DJL's decode returns
     * characters outside the BMP garbled (measured: an emoji came back as "ð" and cut the text).
     */
    @Override
    public String decode(long[] ids) {
        closing.check();
        Args.notNull(ids, "ids");
        StringBuilder out = new StringBuilder();
        java.io.ByteArrayOutputStream run = new java.io.ByteArrayOutputStream();
        for (long id : ids) {
            String a = addedById.get(id);
            if (a != null) {
                flush(run, out);
                out.append(a);
                continue;
            }
            if (id < 0 || id > Integer.MAX_VALUE) throw Args.error("ids", "token ids", id);
            String piece = processor.getToken((int) id);
            if (BYTE_PIECE.matcher(piece).matches()) run.write(Integer.parseInt(piece.substring(3, 5), 16));
            else run.writeBytes(piece.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8));
        }
        flush(run, out);
        return out.toString();
    }

    private void flush(java.io.ByteArrayOutputStream run, StringBuilder out) {
        String s = run.toString(StandardCharsets.UTF_8);
        run.reset();
        out.append(dummyPrefix && s.startsWith(" ") ? s.substring(1) : s);
    }

    @Override
    public String describe() {
        closing.check();
        return "sentencepiece tokenizer.model via DJL " + Djl.VERSION + " (" + added.size() + " added tokens) from " + file;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        sp.close();
    }

    private static boolean flag(JsonObject o, String key) {
        return o.has(key) && !o.get(key).isJsonNull() && o.get(key).getAsBoolean();
    }

    /** tokenizer_config's bos/eos/unk token: a string, an AddedToken object, or null. */
    private static String specialToken(JsonObject config, String key, String fallback) {
        if (config == null || !config.has(key)) return fallback;
        JsonElement e = config.get(key);
        if (e.isJsonNull()) return null;
        return e.isJsonObject() ? e.getAsJsonObject().get("content").getAsString() : e.getAsString();
    }

    private static JsonObject json(Path f) {
        if (!Files.exists(f)) return null;
        try {
            JsonElement e = JsonParser.parseString(Files.readString(f, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) throw new IllegalArgumentException(f + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        } catch (com.google.gson.JsonParseException e) {
            throw new IllegalArgumentException(f + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }
}
