package dev.vtprune.io;

import static dev.vtprune.io.IoErrors.invalid;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.vtprune.internal.Args;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A Hugging Face checkpoint in safetensors form: a directory holding either
 * {@code model.safetensors.index.json} (whose {@code weight_map} maps each tensor name to one of
 * several shard files) or a single {@code model.safetensors}; or the path of an index file or of
 * one .safetensors file directly.
 *
 * <p>The index is validated when the checkpoint is opened, including that every shard it names
 * exists inside the directory; a shard itself is opened (and its header validated) only when a
 * tensor from it is first needed, so reading a few tensors of a 30-shard model touches only their
 * shards. {@link #close} closes every shard opened. Tensors loaded stay valid after that.
 */
public final class SafetensorsCheckpoint implements TensorSource {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";

    /** An index larger than this is not a checkpoint index (real ones are well below 10 MB). */
    private static final long MAX_INDEX_BYTES = 100_000_000L;

    private final String description;
    /** Tensor name to shard file, in index (or file header) order. */
    private final Map<String, Path> shardOf;
    private final List<Path> shards;
    private final Map<Path, SafetensorsFile> opened = new HashMap<>();
    private boolean closed;

    private SafetensorsCheckpoint(String description, Map<String, Path> shardOf, SafetensorsFile single) {
        this.description = description;
        this.shardOf = Collections.unmodifiableMap(shardOf);
        this.shards = List.copyOf(new LinkedHashSet<>(shardOf.values()));
        if (single != null) opened.put(single.path(), single);
    }

    /**
     * Opens a checkpoint directory, an index file (any name ending in .json) or a single
     * .safetensors file. A directory with neither {@value #INDEX_FILE} nor {@value #SINGLE_FILE}
     * is an IllegalArgumentException; a path that does not exist is an UncheckedIOException.
     */
    public static SafetensorsCheckpoint open(Path path) {
        Args.notNull(path, "path");
        if (Files.isDirectory(path)) {
            Path index = path.resolve(INDEX_FILE);
            if (Files.isRegularFile(index)) return fromIndex(index, "checkpoint " + path);
            Path single = path.resolve(SINGLE_FILE);
            if (Files.isRegularFile(single)) return fromFile(single, "checkpoint " + path + " (" + SINGLE_FILE + ")");
            throw invalid("checkpoint directory " + path, "contents", "include " + INDEX_FILE + " or " + SINGLE_FILE,
                    safetensorsFilesIn(path));
        }
        if (!Files.exists(path)) {
            throw new UncheckedIOException("cannot open checkpoint " + path,
                    new NoSuchFileException(path.toString(), null, "no such file or directory"));
        }
        if (path.getFileName().toString().endsWith(".json")) {
            return fromIndex(path, "checkpoint " + path.toAbsolutePath().getParent());
        }
        return fromFile(path, "checkpoint " + path);
    }

    private static SafetensorsCheckpoint fromFile(Path file, String description) {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, Path> shardOf = new LinkedHashMap<>();
        for (String name : f.names()) shardOf.put(name, f.path());
        return new SafetensorsCheckpoint(description, shardOf, f);
    }

    private static SafetensorsCheckpoint fromIndex(Path index, String description) {
        String where = "checkpoint index " + index;
        JsonElement root = parseIndex(index, where);
        JsonElement weightMap = root.isJsonObject() ? root.getAsJsonObject().get("weight_map") : null;
        if (weightMap == null || !weightMap.isJsonObject()) {
            throw invalid(where, "content", "be a JSON object with a \"weight_map\" object", Json.show(root));
        }
        Path dir = index.toAbsolutePath().getParent().normalize();
        Map<String, Path> shardOf = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : ((JsonObject) weightMap).entrySet()) {
            String subject = "weight_map entry '" + e.getKey() + "'";
            String file = Json.string(e.getValue());
            if (file == null || file.isEmpty()) {
                throw invalid(where, subject, "be the name of a shard file", Json.show(e.getValue()));
            }
            Path shard = dir.resolve(file).normalize();
            if (!shard.startsWith(dir) || shard.equals(dir)) {
                throw invalid(where, subject, "name a file inside " + dir, "\"" + file + "\"");
            }
            shardOf.put(e.getKey(), shard);
        }
        checkShardsExist(shardOf, where);
        int n = new LinkedHashSet<>(shardOf.values()).size();
        return new SafetensorsCheckpoint(description + " (" + IoErrors.count(n, "shard") + ")", shardOf, null);
    }

    private static JsonElement parseIndex(Path index, String where) {
        byte[] bytes;
        try {
            long size = Files.size(index);
            if (size > MAX_INDEX_BYTES) {
                throw invalid(where, "size", "be at most " + MAX_INDEX_BYTES + " bytes", size + " bytes");
            }
            bytes = Files.readAllBytes(index);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + where + ": " + e, e);
        }
        return Json.parseUtf8(bytes, where, "content");
    }

    /** Every shard named by the index is a file; the error lists a few tensors that live in a missing one. */
    private static void checkShardsExist(Map<String, Path> shardOf, String where) {
        for (Path shard : new LinkedHashSet<>(shardOf.values())) {
            if (Files.isRegularFile(shard)) continue;
            List<String> inShard = shardOf.entrySet().stream().filter(e -> e.getValue().equals(shard))
                    .map(Map.Entry::getKey).collect(Collectors.toList());
            String subject = "shard " + shard.getFileName() + " (holding "
                    + IoErrors.count(inShard.size(), "tensor") + ": " + IoErrors.some(inShard) + ")";
            throw invalid(where, subject, "be a file in " + shard.getParent(),
                    Files.exists(shard) ? "something that is not a regular file" : "no such file");
        }
    }

    private static String safetensorsFilesIn(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString())
                    .filter(n -> n.contains(".safetensors")).sorted().limit(10).collect(Collectors.toList());
            return names.isEmpty() ? "no safetensors files" : "only " + names;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list checkpoint directory " + dir + ": " + e, e);
        }
    }

    /** Tensor names in index (or file header) order. */
    @Override
    public Set<String> names() {
        return shardOf.keySet();
    }

    /** The shard files, in the order the index first names them (one entry for a single file). */
    public List<Path> shards() {
        return shards;
    }

    /** The header entry of `name` (opens its shard if needed). */
    public TensorInfo info(String name) {
        return shardHolding(name).info(name);
    }

    @Override
    public Tensor load(String name) {
        return shardHolding(name).load(name);
    }

    /** `name` converted to `target`; see {@link SafetensorsFile#load(String, ScalarType)}. */
    public Tensor load(String name, ScalarType target) {
        return shardHolding(name).load(name, target);
    }

    /** The open shard that holds `name`, opened on first use and checked to really hold it. */
    private synchronized SafetensorsFile shardHolding(String name) {
        if (closed) throw new IllegalStateException(description + " is closed; cannot load tensor '" + name + "'");
        Path shard = shardOf.get(name);
        if (shard == null) throw IoErrors.missing(description, name, names());
        SafetensorsFile f = opened.get(shard);
        if (f == null) {
            f = SafetensorsFile.open(shard);
            opened.put(shard, f);
        }
        if (!f.contains(name)) {
            throw invalid(description, "shard " + shard.getFileName(),
                    "hold tensor '" + name + "' (the index maps it there)",
                    "a file of " + IoErrors.count(f.names().size(), "tensor") + " without it");
        }
        return f;
    }

    /** Shards opened so far (for tests of lazy opening). */
    synchronized int openedShardCount() {
        return opened.size();
    }

    @Override
    public String describe() {
        return description;
    }

    /** Closes every opened shard; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (SafetensorsFile f : new ArrayList<>(opened.values())) {
            try {
                f.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        opened.clear();
        if (first != null) throw first;
    }
}
